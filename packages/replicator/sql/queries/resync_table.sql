-- Send source table $2 of subscription $1 back to 'in-copy', its copy (and its progress) and
-- catch-up forgotten.
UPDATE pgferry.subscriber_table
   SET st_state = 'in-copy', st_copy_snapshot = NULL, st_copy_tick = NULL, st_copy_tick_time = NULL, st_copy_tick_seq = NULL,
       st_sync_tick = NULL, st_copy_consumer = NULL, st_copy_last_key = NULL, st_copy_last_snapshot = NULL,
       st_copy_chunks = 0, st_copy_resumes = 0, st_copy_resumed_rows = 0, st_state_changed = now()
 WHERE st_subscription = $1 AND st_source = $2
