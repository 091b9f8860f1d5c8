-- Subscription $1's sequences forward to the provider's last values $3 of its sequences $2
-- (see migration 010); returns how many moved.
SELECT pgferry.subscription_sequences_forward($1, $2::text[], $3::bigint[]) AS moved
