-- Queue, consumer, ticks and size estimate of batch $1, its lag in seconds.
SELECT queue_name, consumer_name, batch_start, batch_end, prev_tick_id, tick_id,
       extract(epoch FROM lag)::float8 AS lag_s, estimated_events
  FROM pgferry.get_batch_info($1)
