-- The consumer that keeps the queue from rotating (the one furthest behind the last
-- switch), or NULL. An operator can unregister it to cut it loose.
CREATE OR REPLACE FUNCTION pgferry._rotation_blocked_by(q pgferry.queue)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.co_name
    FROM pgferry.subscription s
    JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
    JOIN pgferry.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
   WHERE s.sub_queue = q.queue_id
     AND (q.queue_switch_step2 IS NULL OR pg_snapshot_xmin(t.tick_snapshot) < q.queue_switch_step2)
   ORDER BY s.sub_last_tick
   LIMIT 1
$$;
