-- Hand source table $2 of subscription $1 over to the main stream: 'ok' from its catch-up's tick on.
UPDATE pgferry.subscriber_table
   SET st_state = 'ok', st_sync_tick = st_copy_tick, st_copy_consumer = NULL, st_state_changed = now()
 WHERE st_subscription = $1 AND st_source = $2
