-- Ticks of queue $1, newest first: older than tick $2 and newer than tick $3 (NULL: no bound), at most $4.
SELECT t.tick_id::text AS tick_id, t.tick_time, t.tick_event_seq,
       pg_snapshot_xmin(t.tick_snapshot) >= q.queue_data_horizon AS available
  FROM pgferry._queue($1) q JOIN pgferry.tick t ON t.tick_queue = q.queue_id
 WHERE ($2::bigint IS NULL OR t.tick_id < $2) AND ($3::bigint IS NULL OR t.tick_id > $3)
 ORDER BY t.tick_id DESC
 LIMIT $4
