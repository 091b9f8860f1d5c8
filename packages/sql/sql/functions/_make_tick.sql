-- Record a tick (NULL: the queue was handed over meanwhile, see close_tick): the current snapshot, taken after a per-queue lock so that tick ids and
-- snapshots grow together even with two tickers at once (a later tick with an older
-- snapshot would deliver events twice). i_event_seq: the queue's event id counter, read
-- by the caller before; i_bound: the caller's transaction had no txid when it read it, so
-- the txid it gets now is above every transaction that had drawn one of those ids
-- (tick_xid_bound; txids are handed out in order).
CREATE OR REPLACE FUNCTION pgferry._make_tick(q pgferry.queue, i_event_seq bigint, i_bound boolean)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_tick bigint;
BEGIN
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      pg_catalog.current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgferry.tick'), q.queue_id);
  -- The queue was handed over (close_tick) while this caller waited for the lock: its ticks
  -- come from its provider now, and its last own tick is made.
  IF NOT q.queue_external_ticker AND EXISTS (SELECT 1 FROM pgferry.queue x WHERE x.queue_id = q.queue_id AND x.queue_external_ticker) THEN
    RETURN NULL;
  END IF;
  v_tick := pg_catalog.nextval('pgferry.tick_id_seq');
  -- A new statement, so a new snapshot: taken after the lock was granted. The tick's time
  -- is read after it (not the transaction's start, which may be well before): every event
  -- the tick holds committed before its time, which a rewind "to time X" relies on.
  INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq, tick_snapshot, tick_xid_bound, tick_time)
  VALUES (q.queue_id, v_tick, i_event_seq, pg_catalog.pg_current_snapshot(),
          CASE WHEN i_bound THEN pg_catalog.pg_current_xact_id() END, pg_catalog.clock_timestamp());
  PERFORM pg_catalog.pg_notify('pgferry_tick', q.queue_name);
  RETURN v_tick;
END $$;
