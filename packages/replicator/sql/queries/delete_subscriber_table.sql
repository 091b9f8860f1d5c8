-- Take source table $2 out of subscription $1.
DELETE FROM pgferry.subscriber_table WHERE st_subscription = $1 AND st_source = $2
