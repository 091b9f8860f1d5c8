-- Ask for a tick soon. A queue that makes its own ticks gets one now (as force_tick; returns
-- its id). A branch's queue, whose ticks come from its provider, records the request
-- (queue_tick_forced_at) and returns NULL: the branch's replication worker passes it up to
-- its provider, whose next tick then comes down to the branch (a table's catch-up on a node
-- below needs a tick newer than its copy, and a quiet root would make none until its
-- ticker_idle_period).
CREATE OR REPLACE FUNCTION pgferry.request_tick(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF NOT q.queue_external_ticker THEN
    RETURN pgferry.force_tick(i_queue_name);
  END IF;
  UPDATE pgferry.queue SET queue_tick_forced_at = pg_catalog.clock_timestamp() WHERE queue_id = q.queue_id;
  RETURN NULL;
END $$;
