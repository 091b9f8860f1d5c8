-- The snapshot of a tick of a queue.
SELECT t.tick_snapshot::text AS snapshot
  FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue
 WHERE q.queue_name = $1 AND t.tick_id = $2
