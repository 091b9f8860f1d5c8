-- Ticks. Like PGQ's, each call is meant to run in its own transaction.

-- Tick one queue if its rules say so: the new tick id, or NULL. A queue whose ticker is
-- paused, or that takes its ticks from elsewhere (external_ticker), is an error, as in PGQ.
CREATE OR REPLACE FUNCTION pgq.ticker(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF q.queue_external_ticker THEN
    RAISE EXCEPTION 'This queue has external tick source.' USING ERRCODE = 'PF006';
  END IF;
  IF q.queue_ticker_paused THEN
    RAISE EXCEPTION 'Ticker has been paused for this queue' USING ERRCODE = 'PF006';
  END IF;
  RETURN pgferry.ticker(i_queue_name);
END $$;

-- Tick every queue that needs it (not paused, own ticker): the number of ticks made.
CREATE OR REPLACE FUNCTION pgq.ticker()
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.ticker()::bigint
$$;

-- A tick given by an external source (a queue with external_ticker): its id, time and
-- event counter. Returns the tick id.
CREATE OR REPLACE FUNCTION pgq.ticker(i_queue_name text, i_tick_id bigint, i_orig_timestamp timestamptz, i_event_seq bigint)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.tick_external(i_queue_name, i_tick_id, i_orig_timestamp, i_event_seq)
$$;

-- PGQ's force_tick: asks the next ticker round for a tick (and makes the queue's event
-- counter jump past ticker_max_count, as PGQ does: ev_new reads the same); returns the
-- current last tick id (call it again until that changes). A paused queue or one with an
-- external ticker is left alone.
CREATE OR REPLACE FUNCTION pgq.force_tick(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF NOT q.queue_external_ticker AND NOT q.queue_ticker_paused THEN
    PERFORM pg_catalog.setval(q.queue_event_seq,
                              pg_catalog.nextval(q.queue_event_seq) + q.queue_ticker_max_count * 2 + 1000);
    UPDATE pgferry.queue SET queue_tick_forced_at = pg_catalog.clock_timestamp() WHERE queue_id = q.queue_id;
  END IF;
  RETURN (SELECT pg_catalog.max(t.tick_id) FROM pgferry.tick t WHERE t.tick_queue = q.queue_id);
END $$;
