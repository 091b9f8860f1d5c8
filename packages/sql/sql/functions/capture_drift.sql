-- Captured tables of a queue whose columns changed outside capture_ddl_begin/end (a column
-- added, renamed or dropped by DDL run directly, not through `pgferry replicate execute`):
-- their capture still writes the columns it knows (ct_columns), so their changes no longer
-- carry the table as it is. A replicator stops before applying such a table's changes.
-- A captured table that is gone is not listed (its events end where it went).
CREATE OR REPLACE FUNCTION pgferry.capture_drift(
  i_queue_name text,
  OUT table_name text, OUT columns_captured text[], OUT columns_now text[])
RETURNS SETOF record LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- PL/pgSQL for its cached plan: a replicator asks before every batch (as SQL it was
  -- planned at every call, most of its cost).
  RETURN QUERY
  SELECT ct.ct_table_name, ct.ct_columns, a.cols
    FROM pgferry.capture_table ct
    JOIN pgferry.queue q ON q.queue_id = ct.ct_queue
    JOIN LATERAL (SELECT pg_catalog.array_agg(att.attname::text ORDER BY att.attnum) AS cols
                    FROM pg_catalog.pg_attribute att
                   WHERE att.attrelid = ct.ct_table_oid AND att.attnum > 0 AND NOT att.attisdropped) a ON a.cols IS NOT NULL
   WHERE q.queue_name = i_queue_name AND a.cols IS DISTINCT FROM ct.ct_columns
   ORDER BY ct.ct_table_name;
END $$;
