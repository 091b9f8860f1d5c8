-- Take every sequence out of subscription $1 (the subscriber sequences stay); returns them.
DELETE FROM pgferry.subscriber_sequence WHERE ss_subscription = $1 RETURNING ss_source AS source
