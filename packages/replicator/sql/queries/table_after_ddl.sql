-- After an execute or a DDL event: subscription $1's table captured as $2 is captured as $3
-- now, and replicates columns $4 with key columns $5.
UPDATE pgferry.subscriber_table SET st_source = $3, st_columns = $4, st_key_columns = $5
 WHERE st_subscription = $1 AND st_source = $2
RETURNING *
