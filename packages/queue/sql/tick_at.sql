-- The latest tick of queue $1 taken at or before time $2 (no row when there is none that old).
SELECT t.tick_id::text AS tick_id, t.tick_time, t.tick_event_seq,
       pg_snapshot_xmin(t.tick_snapshot) >= q.queue_data_horizon AS available
  FROM pgferry._queue($1) q JOIN pgferry.tick t ON t.tick_queue = q.queue_id
 WHERE t.tick_time <= $2
 ORDER BY t.tick_id DESC
 LIMIT 1
