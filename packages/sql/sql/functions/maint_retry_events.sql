-- Move a queue's due retry events back into its current event table (at most i_limit per
-- call, oldest first), each with a new event id so the ticker counts it. Only its owner
-- consumer sees it again (ev_owner). Returns how many were moved; call again while > 0.
-- A lock on the queue's tables is waited for at most lock_timeout: maintenance goes on with
-- the other queues.
CREATE OR REPLACE FUNCTION pgferry.maint_retry_events(i_queue_name text, i_limit int DEFAULT 10000)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
  v_txid xid8 := pg_catalog.pg_current_xact_id();  -- before reading queue_cur_table, as in insert_event
  q pgferry.queue;
  v_count int;
BEGIN
  q := pgferry._queue(i_queue_name);
  WITH due AS (
    SELECT ctid FROM pgferry.retry_queue
     WHERE ev_queue = q.queue_id AND ev_retry_after <= pg_catalog.now()
     ORDER BY ev_retry_after
     LIMIT i_limit
       FOR UPDATE SKIP LOCKED),
  moved AS (
    DELETE FROM pgferry.retry_queue r USING due WHERE r.ctid = due.ctid RETURNING r.*)
  INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_owner, ev_retry,
                             ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
  SELECT m.ev_queue, q.queue_cur_table, pg_catalog.nextval(q.queue_event_seq), m.ev_time, v_txid, m.ev_owner,
         m.ev_retry, m.ev_type, m.ev_data, m.ev_extra1, m.ev_extra2, m.ev_extra3, m.ev_extra4
    FROM moved m;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

-- Every queue's due retry events, in one transaction (PGQ's form). Maintenance calls the
-- per-queue form instead, so that one queue's failure does not stop the others.
CREATE OR REPLACE FUNCTION pgferry.maint_retry_events(i_limit int DEFAULT 10000)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_name text;
  v_count int := 0;
BEGIN
  FOR v_name IN SELECT queue_name FROM pgferry.queue ORDER BY queue_id LOOP
    v_count := v_count + pgferry.maint_retry_events(v_name, i_limit);
  END LOOP;
  RETURN v_count;
END $$;
