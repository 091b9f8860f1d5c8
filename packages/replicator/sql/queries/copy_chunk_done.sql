-- A chunk of the copy of source table $2 of subscription $1, in the chunk's own transaction:
-- $4 rows up to key $3 read at snapshot $5 (the first chunk's is kept as the copy's snapshot).
-- Matches only while the copy is where the chunk started ($6: its last key, NULL at the first).
UPDATE pgferry.subscriber_table
   SET st_copy_last_key = $3::jsonb, st_copied_rows = st_copied_rows + $4,
       st_copy_snapshot = coalesce(st_copy_snapshot, $5::pg_snapshot), st_copy_last_snapshot = $5::pg_snapshot,
       st_copy_chunks = st_copy_chunks + 1
 WHERE st_subscription = $1 AND st_source = $2 AND st_state = 'in-copy'
   AND st_copy_last_key IS NOT DISTINCT FROM $6::jsonb
RETURNING st_copied_rows
