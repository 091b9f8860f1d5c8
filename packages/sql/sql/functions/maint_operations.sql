-- The maintenance calls to make, each in its own transaction, in this order (PGQ's
-- maint_operations). pgferry's TypeScript maintenance and pg_cron jobs both use it. Every
-- operation that concerns one queue is one call per queue (func_arg: the queue name), so a
-- queue whose operation fails holds back no other queue.
CREATE OR REPLACE FUNCTION pgferry.maint_operations(OUT func_name text, OUT func_arg text)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT f, a FROM (
    SELECT 1 AS step, queue_id, 'pgferry.maint_rotate_tables_step1' AS f, queue_name AS a FROM pgferry.queue
    UNION ALL SELECT 2, 0, 'pgferry.maint_rotate_tables_step2', NULL
    UNION ALL SELECT 3, queue_id, 'pgferry.maint_retry_events', queue_name FROM pgferry.queue
    UNION ALL SELECT 4, queue_id, 'pgferry.maint_tick_cleanup', queue_name FROM pgferry.queue
    UNION ALL SELECT 5, 0, 'pgferry.maint_rotate_metadata', NULL
  ) ops ORDER BY step, queue_id
$$;
