-- Other subscriptions of this database writing table $2 (canonical name), than $1.
SELECT st_subscription AS subscription, st_source AS source
  FROM pgferry.subscriber_table WHERE st_dest = $2 AND st_subscription <> $1
