-- Record tick $3 as applied by the catch-up of source table $2 of subscription $1.
UPDATE pgferry.subscriber_table SET st_copy_tick = $3 WHERE st_subscription = $1 AND st_source = $2
