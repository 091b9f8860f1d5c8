-- Send source table $2 of subscription $1 back to 'in-copy', its copy and catch-up forgotten.
UPDATE pgferry.subscriber_table
   SET st_state = 'in-copy', st_copy_snapshot = NULL, st_copy_tick = NULL,
       st_sync_tick = NULL, st_copy_consumer = NULL, st_state_changed = now()
 WHERE st_subscription = $1 AND st_source = $2
