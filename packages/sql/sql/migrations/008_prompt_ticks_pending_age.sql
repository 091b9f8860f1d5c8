-- Ticks that do not wait for traffic, and lag as people read it (issue 14).

-- Every transaction that had drawn an event id counted by a tick (tick_event_seq) has a
-- txid below tick_xid_bound (NULL: not known). With the snapshot it bounds the writers
-- that may still commit events into the batch after the tick: the ticker's rules look
-- only at those (see _tick_due in ticker.sql).
ALTER TABLE pgferry.tick ADD COLUMN tick_xid_bound xid8;
COMMENT ON COLUMN pgferry.tick.tick_xid_bound IS
  'A txid above every transaction that had drawn an event id counted by tick_event_seq (NULL: not known)';

-- The ticker's rules take the last two ticks; a tick records its bound.
DROP FUNCTION IF EXISTS pgferry._tick_due(pgferry.queue, bigint, timestamptz, bigint);
DROP FUNCTION IF EXISTS pgferry._make_tick(pgferry.queue, bigint);

-- get_consumer_info gains pending_age: a new result type.
DROP FUNCTION IF EXISTS pgferry.get_consumer_info(text, text);
