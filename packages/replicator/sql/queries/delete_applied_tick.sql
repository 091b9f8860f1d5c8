-- Forget the main stream's position of subscription $1.
DELETE FROM pgferry.applied_tick WHERE at_subscription = $1
