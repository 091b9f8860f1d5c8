-- A copy of source table $2 of subscription $1 starts from zero (its first chunk's
-- transaction, which also empties the table): no progress, its catch-up consumer $3 at tick
-- $4 (made at $6, event counter $7), the provider's row estimate $5.
UPDATE pgferry.subscriber_table
   SET st_copy_last_key = NULL, st_copied_rows = 0, st_copy_snapshot = NULL, st_copy_last_snapshot = NULL,
       st_copy_consumer = $3, st_copy_tick = $4, st_copy_tick_time = $6, st_copy_tick_seq = $7, st_copy_estimate = $5,
       st_copy_chunks = 0, st_copy_resumes = 0, st_copy_resumed_rows = 0
 WHERE st_subscription = $1 AND st_source = $2 AND st_state = 'in-copy'
