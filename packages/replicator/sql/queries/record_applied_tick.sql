UPDATE pgferry.applied_tick
   SET at_tick_id = $2, at_batch_id = $3, at_applied = pg_catalog.now(), at_events = at_events + $4
 WHERE at_subscription = $1
