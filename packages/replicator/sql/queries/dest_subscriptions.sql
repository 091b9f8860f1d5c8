-- Other subscriptions of this database writing table $2 (canonical name), than $1, with the
-- merge column each writes its source name into (NULL: none).
SELECT st_subscription AS subscription, st_source AS source, st_merge_column AS merge_column
  FROM pgferry.subscriber_table WHERE st_dest = $2 AND st_subscription <> $1
 ORDER BY st_subscription, st_source
