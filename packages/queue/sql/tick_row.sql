-- Tick $2 of queue $1 (no row when it is gone).
SELECT t.tick_id::text AS tick_id, t.tick_time, t.tick_event_seq::text AS tick_event_seq
  FROM pgferry._queue($1) q JOIN pgferry.tick t ON t.tick_queue = q.queue_id
 WHERE t.tick_id = $2
