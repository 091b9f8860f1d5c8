-- The main stream applied batch $3 ending at tick $2 (made at $5 with event counter $6): $4 events.
UPDATE pgferry.applied_tick
   SET at_tick_id = $2, at_batch_id = $3, at_applied = pg_catalog.now(), at_events = at_events + $4,
       at_tick_time = $5, at_event_seq = $6
 WHERE at_subscription = $1
