-- Add source table $2 to subscription $1 as $3 (key columns $4, replicated columns $5, handler
-- $6 with arguments $7, merge column $8 or NULL, captured on the subscriber $9), 'in-copy';
-- returns the row.
INSERT INTO pgferry.subscriber_table (st_subscription, st_source, st_dest, st_key_columns, st_columns, st_handler, st_handler_args,
                                      st_merge_column, st_capture_applied)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *
