-- The tables of a subscription.
SELECT * FROM pgferry.subscriber_table WHERE st_subscription = $1 ORDER BY st_source
