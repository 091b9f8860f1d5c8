-- The queue a bulk insert writes to: its id, current event table and event id sequence.
-- Raises for an unknown queue, a queue whose inserts are disabled (PF006), and a
-- capture-only queue unless the session is an administrator (PF007).
CREATE OR REPLACE FUNCTION pgferry._queue_for_insert(
  i_queue_name text, OUT o_queue_id int, OUT o_table int, OUT o_seq regclass)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_disabled boolean;
  v_capture_only boolean;
BEGIN
  SELECT queue_id, queue_cur_table, queue_event_seq, queue_disable_insert, queue_capture_only
    INTO o_queue_id, o_table, o_seq, v_disabled, v_capture_only
    FROM pgferry.queue WHERE queue_name = i_queue_name;
  IF NOT FOUND THEN
    PERFORM pgferry._queue(i_queue_name);
  END IF;
  IF v_disabled THEN
    RAISE EXCEPTION 'inserts into queue "%" are disabled', i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Enable with pgferry.set_queue_config(queue, ''disable_insert'', ''false'').';
  END IF;
  IF v_capture_only THEN
    PERFORM pgferry._check_capture_only_insert(i_queue_name);
  END IF;
END $$;
