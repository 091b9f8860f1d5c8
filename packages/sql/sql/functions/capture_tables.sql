-- Captured tables, of one queue or of all.
CREATE OR REPLACE FUNCTION pgferry.capture_tables(
  i_queue_name text DEFAULT NULL,
  OUT queue_name text, OUT table_name text, OUT key_columns text[], OUT ignore_columns text[],
  OUT filter text, OUT mode text, OUT created timestamptz)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT q.queue_name, ct.ct_table_name, ct.ct_key_columns, ct.ct_ignore_columns, ct.ct_filter,
         ct.ct_mode, ct.ct_created
    FROM pgferry.capture_table ct JOIN pgferry.queue q ON q.queue_id = ct.ct_queue
   WHERE i_queue_name IS NULL OR q.queue_name = i_queue_name
   ORDER BY q.queue_name, ct.ct_table_name;
$$;
