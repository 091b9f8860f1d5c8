-- The newest tick of the subscription's queue the subscriber has applied (its position).
SELECT at_tick_id FROM pgferry.applied_tick WHERE at_subscription = $1
