-- Add the provider's sequence $2 to subscription $1 as subscriber sequence $3; returns the
-- row (none when it is there already).
INSERT INTO pgferry.subscriber_sequence (ss_subscription, ss_source, ss_dest)
VALUES ($1, $2, $3)
ON CONFLICT (ss_subscription, ss_source) DO NOTHING
RETURNING *
