-- Take the provider's sequence $2 out of subscription $1 (the subscriber sequence stays).
DELETE FROM pgferry.subscriber_sequence WHERE ss_subscription = $1 AND ss_source = $2
