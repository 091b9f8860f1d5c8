-- Position and lag of consumer $2 on queue $1 (NULL: every consumer, every queue), intervals in seconds.
SELECT queue_name, consumer_name, extract(epoch FROM lag)::float8 AS lag_s,
       extract(epoch FROM last_seen)::float8 AS seen_s, last_tick, ticks_behind, pending_events,
       current_batch, extract(epoch FROM batch_age)::float8 AS batch_age_s, is_subconsumer,
       retry_pending, dead_letters, extract(epoch FROM pending_age)::float8 AS pending_age_s
  FROM pgferry.get_consumer_info($1, $2)
