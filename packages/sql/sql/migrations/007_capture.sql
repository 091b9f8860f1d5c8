-- Capture (issue 8). Images name the columns as they were when capture began, by position
-- (a renamed column keeps its captured name in events): ct_columns records them. Existing
-- captures take the table's columns now.
ALTER TABLE pgferry.capture_table ADD COLUMN ct_columns text[];
UPDATE pgferry.capture_table ct
   SET ct_columns = (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = ct.ct_table_oid AND a.attnum > 0 AND NOT a.attisdropped);
UPDATE pgferry.capture_table SET ct_columns = ct_key_columns || ct_ignore_columns WHERE ct_columns IS NULL;
ALTER TABLE pgferry.capture_table ALTER COLUMN ct_columns SET NOT NULL;

-- Queues that already carry captured tables become capture-only (capture_add_table sets it
-- from now on): their row events are applied to replicas, so writers must not forge them.
UPDATE pgferry.queue q SET queue_capture_only = true
 WHERE EXISTS (SELECT FROM pgferry.capture_table ct WHERE ct.ct_queue = q.queue_id);
