-- A copy of source table $2 of subscription $1 resumes after its last committed key $3
-- (checked: nothing changed it meanwhile): counted, with the rows it need not copy again.
UPDATE pgferry.subscriber_table
   SET st_copy_resumes = st_copy_resumes + 1, st_copy_resumed_rows = st_copy_resumed_rows + st_copied_rows
 WHERE st_subscription = $1 AND st_source = $2 AND st_state = 'in-copy' AND st_copy_last_key = $3::jsonb
