-- The oldest tick of queue $1 whose events the queue still holds (a consumer can start there).
SELECT t.tick_id::text AS tick_id, t.tick_time, t.tick_event_seq,
       pg_snapshot_xmin(t.tick_snapshot) >= q.queue_data_horizon AS available
  FROM pgferry._queue($1) q JOIN pgferry.tick t ON t.tick_queue = q.queue_id
 WHERE pg_snapshot_xmin(t.tick_snapshot) >= q.queue_data_horizon
 ORDER BY t.tick_id
 LIMIT 1
