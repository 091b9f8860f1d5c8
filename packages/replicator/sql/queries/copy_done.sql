-- End of the initial copy, in the copy's own transaction: the table is now catching up
-- from the copy's snapshot with its own consumer, positioned at $4.
UPDATE pgferry.subscriber_table
   SET st_state = 'catching-up', st_copy_snapshot = $3::pg_snapshot, st_copy_consumer = $5,
       st_copy_tick = $4, st_sync_tick = NULL, st_copied_rows = $6, st_state_changed = pg_catalog.now()
 WHERE st_subscription = $1 AND st_source = $2 AND st_state = 'in-copy'
