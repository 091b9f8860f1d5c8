-- Source table $2 of subscription $1, its row locked until the transaction ends.
SELECT * FROM pgferry.subscriber_table WHERE st_subscription = $1 AND st_source = $2 FOR UPDATE
