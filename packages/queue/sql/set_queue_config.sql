-- Settings $2 (keys) = $3 (values) of queue $1, in one statement: all applied or none.
SELECT pgferry.set_queue_config($1, s.k, s.v) FROM unnest($2::text[], $3::text[]) AS s(k, v)
