-- Delete ticks no consumer can use any more: older than every consumer's position and
-- below the data horizon (their events are gone, so nobody can rewind to them). The
-- newest tick is always kept. Returns how many were deleted.
CREATE OR REPLACE FUNCTION pgferry.maint_tick_cleanup(i_queue_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_keep bigint;
  v_count int;
BEGIN
  q := pgferry._queue(i_queue_name);
  SELECT least((SELECT min(sub_last_tick) FROM pgferry.subscription WHERE sub_queue = q.queue_id),
               (SELECT max(tick_id) FROM pgferry.tick WHERE tick_queue = q.queue_id))
    INTO v_keep;
  DELETE FROM pgferry.tick
   WHERE tick_queue = q.queue_id AND tick_id < v_keep
     AND pg_snapshot_xmin(tick_snapshot) < q.queue_data_horizon;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
