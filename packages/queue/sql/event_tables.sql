-- The rotating event tables of queue $1 (NULL: every queue): which is current, rows
-- (the planner's estimate, no scan; NULL before the first ANALYZE) and size on disk
-- (table, indexes and TOAST).
SELECT q.queue_name, t.tbl AS table_no, t.tbl = q.queue_cur_table AS is_current,
       pg_catalog.format('pgferry.%I', c.relname) AS table_name,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 END AS est_rows,
       pg_catalog.pg_total_relation_size(c.oid) AS bytes
  FROM pgferry.queue q
 CROSS JOIN LATERAL pg_catalog.generate_series(0, q.queue_ntables - 1) AS t(tbl)
  JOIN pg_catalog.pg_class c
    ON c.relnamespace = 'pgferry'::regnamespace
   AND c.relname = pg_catalog.format('event_%s_%s', q.queue_id, t.tbl)
 WHERE $1::text IS NULL OR q.queue_name = $1
 ORDER BY q.queue_name, t.tbl
