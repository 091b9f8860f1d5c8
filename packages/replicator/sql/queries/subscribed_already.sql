-- A row when table $2 is in subscription $1 already.
SELECT 1 FROM pgferry.subscriber_table WHERE st_subscription = $1 AND st_source = $2
