-- The sequences of subscription $1.
SELECT * FROM pgferry.subscriber_sequence WHERE ss_subscription = $1 ORDER BY ss_source
