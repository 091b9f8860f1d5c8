-- Record tick $3 (made at $4, event counter $5) as applied by the catch-up of source table $2
-- of subscription $1.
UPDATE pgferry.subscriber_table SET st_copy_tick = $3, st_copy_tick_time = $4, st_copy_tick_seq = $5
 WHERE st_subscription = $1 AND st_source = $2
