-- Writers draw event ids from the queue's sequence (insert_event runs as the caller).
CREATE OR REPLACE FUNCTION pgferry._grant_queue_objects(i_queue_id int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_role text;
BEGIN
  FOR v_role IN SELECT rolname FROM pg_roles WHERE rolname IN ('pgferry_writer', 'pgferry_admin') LOOP
    EXECUTE format('GRANT USAGE ON SEQUENCE pgferry.event_%s_id_seq TO %I', i_queue_id, v_role);
  END LOOP;
END $$;
