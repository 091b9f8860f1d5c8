-- A root becoming a branch: its captured table $2 is in subscription $1 (itself), 'ok' and
-- applied by the main stream from now on (key columns $3, replicated columns $4); an
-- existing row (an earlier time as a branch) is made so again.
INSERT INTO pgferry.subscriber_table (st_subscription, st_source, st_dest, st_key_columns, st_columns, st_state)
VALUES ($1, $2, $2, $3, $4, 'ok')
ON CONFLICT (st_subscription, st_source) DO UPDATE
   SET st_state = 'ok', st_key_columns = EXCLUDED.st_key_columns, st_columns = EXCLUDED.st_columns,
       st_copy_snapshot = NULL, st_copy_tick = NULL, st_copy_tick_time = NULL, st_copy_tick_seq = NULL, st_sync_tick = NULL,
       st_copy_consumer = NULL,
       st_state_changed = pg_catalog.now()
