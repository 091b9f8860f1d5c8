-- Open a cursor over a batch's events in the current transaction; read it with
-- FETCH n FROM "<name>". Returns the cursor name.
CREATE OR REPLACE FUNCTION pgferry.get_batch_cursor(i_batch_id bigint, i_cursor_name text)
RETURNS refcursor LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_cur refcursor := i_cursor_name;
BEGIN
  OPEN v_cur NO SCROLL FOR EXECUTE pgferry.batch_event_sql(i_batch_id);
  RETURN v_cur;
END $$;
