-- Record a tick: the current snapshot, taken after a per-queue lock so that tick ids and
-- snapshots grow together even with two tickers at once (a later tick with an older
-- snapshot would deliver events twice).
CREATE OR REPLACE FUNCTION pgferry._make_tick(q pgferry.queue, i_event_seq bigint)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_tick bigint;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('pgferry.tick'), q.queue_id);
  v_tick := nextval('pgferry.tick_id_seq');
  -- A new statement, so a new snapshot: taken after the lock was granted.
  INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq, tick_snapshot)
  VALUES (q.queue_id, v_tick, i_event_seq, pg_current_snapshot());
  PERFORM pg_notify('pgferry_tick', q.queue_name);
  RETURN v_tick;
END $$;
