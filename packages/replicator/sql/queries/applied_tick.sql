-- The main stream's position of subscription $1: tick, when it was applied, events applied so far.
SELECT at_tick_id, at_applied, at_events FROM pgferry.applied_tick WHERE at_subscription = $1
