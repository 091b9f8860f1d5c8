-- The newest tick of queue $1.
SELECT t.tick_id::text AS tick_id, t.tick_time, t.tick_event_seq::text AS tick_event_seq
  FROM pgferry._queue($1) q JOIN pgferry.tick t ON t.tick_queue = q.queue_id
 ORDER BY t.tick_id DESC
 LIMIT 1
