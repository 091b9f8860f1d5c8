-- A branch's tick: the provider's tick id, time and event counter, this database's
-- snapshot. The replicator makes it in its own transaction right after the one that
-- copied the batch's events (insert_events_raw) committed, so the tick's snapshot holds
-- exactly them: the branch's batch equals the provider's. Making it again (a worker that
-- crashed after the copy) returns the tick already there. The tick id and event id
-- counters are moved up to it, so that once the branch is promoted its own ticks and
-- events continue the provider's. Returns the tick id.
CREATE OR REPLACE FUNCTION pgferry.tick_external(i_queue_name text, i_tick_id bigint, i_tick_time timestamptz, i_event_seq bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_last bigint;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF NOT q.queue_external_ticker THEN
    RAISE EXCEPTION 'queue "%" has its own ticker: it takes no ticks from a provider', i_queue_name
      USING ERRCODE = 'PF006', HINT = 'A branch''s queue has external_ticker set.';
  END IF;
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      pg_catalog.current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgferry.tick'), q.queue_id);
  SELECT max(tick_id) INTO v_last FROM pgferry.tick WHERE tick_queue = q.queue_id;
  IF v_last >= i_tick_id THEN
    IF EXISTS (SELECT 1 FROM pgferry.tick WHERE tick_queue = q.queue_id AND tick_id = i_tick_id) THEN
      RETURN i_tick_id;
    END IF;
    RAISE EXCEPTION 'tick % of queue "%" is older than its last tick %', i_tick_id, i_queue_name, v_last
      USING ERRCODE = 'PF006', HINT = 'A branch takes its provider''s ticks in order.';
  END IF;
  -- A new statement, so a new snapshot: taken after the lock was granted.
  INSERT INTO pgferry.tick (tick_queue, tick_id, tick_time, tick_event_seq, tick_snapshot)
  VALUES (q.queue_id, i_tick_id, i_tick_time, i_event_seq, pg_catalog.pg_current_snapshot());
  IF i_tick_id > coalesce(pg_catalog.pg_sequence_last_value('pgferry.tick_id_seq'), 0) THEN
    PERFORM pg_catalog.setval('pgferry.tick_id_seq', i_tick_id);
  END IF;
  IF i_event_seq > coalesce(pgferry._event_seq_value(q.queue_event_seq), 0) THEN
    PERFORM pg_catalog.setval(q.queue_event_seq, i_event_seq);
  END IF;
  PERFORM pg_catalog.pg_notify('pgferry_tick', q.queue_name);
  RETURN i_tick_id;
END $$;
