-- Stop capturing a table into a queue: its triggers, their functions, image type and guard view are
-- dropped. Returns 1, or 0 when the table was not captured into that queue. The name is
-- matched as captured, or resolved with the caller's search_path.
CREATE OR REPLACE FUNCTION pgferry.capture_remove_table(i_queue_name text, i_table text)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RETURN pgferry._capture_remove_table(i_queue_name, i_table, pg_catalog.to_regclass(i_table));
END $$;

CREATE OR REPLACE FUNCTION pgferry._capture_remove_table(i_queue_name text, i_table text, i_oid oid)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  ct pgferry.capture_table;
  v_op text;
BEGIN
  q := pgferry._queue(i_queue_name);
  SELECT * INTO ct FROM pgferry.capture_table
   WHERE ct_queue = q.queue_id AND (ct_table_name = i_table OR ct_table_oid = i_oid);
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  EXECUTE format('DROP VIEW IF EXISTS pgferry.capture_%s_guard', ct.ct_id);
  FOREACH v_op IN ARRAY ARRAY['ins', 'upd', 'del', 'trunc'] LOOP
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = ct.ct_table_oid) THEN
      EXECUTE format('DROP TRIGGER IF EXISTS pgferry_capture_%s_%s ON %s', ct.ct_id, v_op, ct.ct_table_oid::regclass);
    END IF;
    EXECUTE format('DROP FUNCTION IF EXISTS pgferry._capture_%s_%s()', ct.ct_id, v_op);
  END LOOP;
  EXECUTE format('DROP TYPE IF EXISTS pgferry.capture_%s_image', ct.ct_id);
  DELETE FROM pgferry.capture_table WHERE ct_id = ct.ct_id;
  RETURN 1;
END $$;
