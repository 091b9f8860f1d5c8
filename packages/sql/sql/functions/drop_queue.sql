-- Drop a queue with its events, ticks and subscriptions. Refuses while consumers are
-- registered or tables are captured into it, unless i_force: then their capture is removed
-- too (a trigger left writing into a dropped queue would fail every write of its table).
-- Returns 1.
CREATE OR REPLACE FUNCTION pgferry.drop_queue(i_queue_name text, i_force boolean DEFAULT false)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_consumers text;
  v_tables text;
  ct pgferry.capture_table;
BEGIN
  q := pgferry._queue(i_queue_name);
  PERFORM 1 FROM pgferry.queue WHERE queue_id = q.queue_id FOR UPDATE;
  SELECT string_agg(c.co_name, ', ' ORDER BY c.co_name) INTO v_consumers
    FROM pgferry.subscription s JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
   WHERE s.sub_queue = q.queue_id AND s.sub_parent IS NULL;
  IF v_consumers IS NOT NULL AND NOT i_force THEN
    RAISE EXCEPTION 'queue "%" still has consumers: %', i_queue_name, v_consumers
      USING ERRCODE = 'PF006',
            HINT = 'Unregister them first, or drop with force => true.';
  END IF;
  SELECT string_agg(ct_table_name, ', ' ORDER BY ct_table_name) INTO v_tables
    FROM pgferry.capture_table WHERE ct_queue = q.queue_id;
  IF v_tables IS NOT NULL AND NOT i_force THEN
    RAISE EXCEPTION 'tables are captured into queue "%": %', i_queue_name, v_tables
      USING ERRCODE = 'PF006',
            HINT = 'Remove them with pgferry.capture_remove_table() first, or drop with force => true.';
  END IF;
  FOR ct IN SELECT * FROM pgferry.capture_table WHERE ct_queue = q.queue_id LOOP
    PERFORM pgferry._capture_remove_table(i_queue_name, ct.ct_table_name, ct.ct_table_oid);
  END LOOP;
  EXECUTE format('DROP TABLE pgferry.event_%s', q.queue_id);
  DELETE FROM pgferry.queue WHERE queue_id = q.queue_id;
  EXECUTE format('DROP SEQUENCE %s', q.queue_event_seq);
  RETURN 1;
END $$;
