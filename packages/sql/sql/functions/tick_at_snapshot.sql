-- A consistent point between the queue and its tables (online compare): a tick whose
-- snapshot is that of a REPEATABLE READ transaction open on another session, so that the
-- reader sees the provider's tables exactly as the events up to the tick left them, and a
-- consumer reaches the same point as a batch boundary.
--
-- Tick ids and snapshots must grow together (a later tick with an older snapshot would
-- deliver events twice), so the caller takes pgferry.tick_lock(queue) in its own READ
-- COMMITTED transaction before the reader's snapshot is taken, and makes the tick in that
-- same transaction: no other tick of the queue can come in between. Checked anyway: the
-- snapshot must see every transaction the queue's last tick saw.

-- Hold the queue's tick lock until the end of the transaction (tickers of the queue wait).
CREATE OR REPLACE FUNCTION pgferry.tick_lock(i_queue_name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgferry.tick'), q.queue_id);
END $$;

CREATE OR REPLACE FUNCTION pgferry.tick_at_snapshot(i_queue_name text, i_snapshot pg_snapshot)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_last pg_snapshot;
  v_tick bigint;
BEGIN
  q := pgferry._queue(i_queue_name);
  PERFORM pgferry._check_own_ticks(q);
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      pg_catalog.current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgferry.tick'), q.queue_id);
  IF pg_catalog.pg_snapshot_xmax(i_snapshot) > pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()) THEN
    RAISE EXCEPTION 'snapshot % of queue "%" is not one of this server''s', i_snapshot, i_queue_name
      USING ERRCODE = 'PF003', HINT = 'Pass pg_current_snapshot() of a transaction open on this database.';
  END IF;
  SELECT t.tick_snapshot INTO v_last FROM pgferry.tick t
   WHERE t.tick_queue = q.queue_id ORDER BY t.tick_id DESC LIMIT 1;
  IF v_last IS NOT NULL AND (
       pg_catalog.pg_snapshot_xmax(i_snapshot) < pg_catalog.pg_snapshot_xmax(v_last)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_snapshot_xip(i_snapshot) x
                   WHERE pg_catalog.pg_visible_in_snapshot(x, v_last))) THEN
    RAISE EXCEPTION 'snapshot % is older than the last tick of queue "%"', i_snapshot, i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Take pgferry.tick_lock(queue) before the snapshot, and make the tick in the same transaction as the lock.';
  END IF;
  v_tick := pg_catalog.nextval('pgferry.tick_id_seq');
  INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq, tick_snapshot)
  VALUES (q.queue_id, v_tick, pgferry._event_seq_value(q.queue_event_seq), i_snapshot);
  PERFORM pg_catalog.pg_notify('pgferry_tick', q.queue_name);
  RETURN v_tick;
END $$;
