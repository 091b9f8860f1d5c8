-- Take every table out of subscription $1 (the tables and their data stay); returns them.
DELETE FROM pgferry.subscriber_table WHERE st_subscription = $1
RETURNING st_source AS source, st_dest AS dest, st_copy_consumer AS copy_consumer
