-- insert_event(s) into a queue that carries captured tables (queue_capture_only): its row
-- events are applied to replicas, so only administrators may add events by hand.
CREATE OR REPLACE FUNCTION pgferry._check_capture_only_insert(i_queue_name text)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT pgferry._session_is_admin() THEN
    RAISE EXCEPTION 'permission denied to insert events into queue "%": it carries captured tables', i_queue_name
      USING ERRCODE = 'PF007',
            HINT = 'Its events come from capture triggers; only pgferry_admin or the pgferry schema owner may insert events by hand.';
  END IF;
END $$;
