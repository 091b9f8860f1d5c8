-- The main stream's position of subscription $1: tick (its time and event counter as the
-- provider made it), when it was applied, events applied so far.
SELECT at_tick_id, at_tick_time, at_event_seq, at_applied, at_events FROM pgferry.applied_tick WHERE at_subscription = $1
