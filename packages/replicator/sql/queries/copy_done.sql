-- End of the initial copy, in the copy's own (last) transaction: the table is now catching up
-- with its own consumer $5, positioned at $4 (made at $8, event counter $9), from the first
-- snapshot $3 (events it saw are in every chunk) to the last chunk's snapshot $7 ($3 again for
-- a one-transaction copy).
UPDATE pgferry.subscriber_table
   SET st_state = 'catching-up', st_copy_snapshot = $3::pg_snapshot, st_copy_last_snapshot = $7::pg_snapshot,
       st_copy_consumer = $5, st_copy_tick = $4, st_copy_tick_time = $8, st_copy_tick_seq = $9, st_sync_tick = NULL,
       st_copied_rows = $6, st_copy_last_key = NULL,
       st_state_changed = pg_catalog.now()
 WHERE st_subscription = $1 AND st_source = $2 AND st_state = 'in-copy'
