-- Queue, consumer, ticks and size estimate of batch $1, its lag in seconds, the event id
-- counter at its end tick.
SELECT queue_name, consumer_name, batch_start, batch_end, prev_tick_id, tick_id,
       extract(epoch FROM lag)::float8 AS lag_s, estimated_events, seq_end::text AS seq_end
  FROM pgferry.get_batch_info($1)
