-- The snapshot of tick $2 of queue $1 (no row when the queue no longer holds it).
SELECT t.tick_snapshot::text AS snapshot
  FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue
 WHERE q.queue_name = $1 AND t.tick_id = $2
