UPDATE pgferry.subscriber_table
   SET st_missing_updates = st_missing_updates + $3, st_missing_deletes = st_missing_deletes + $4
 WHERE st_subscription = $1 AND st_source = $2
