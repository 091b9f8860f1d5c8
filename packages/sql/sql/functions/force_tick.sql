-- Make a tick now, whatever the ticker rules say (tests, batch jobs, an operator). Returns
-- the tick id. Like ticker(), run it in its own transaction.
CREATE OR REPLACE FUNCTION pgferry.force_tick(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_fresh boolean := pg_catalog.pg_current_xact_id_if_assigned() IS NULL;  -- before the counter is read
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  PERFORM pgferry._check_own_ticks(q);
  RETURN pgferry._make_tick(q, pgferry._event_seq_value(q.queue_event_seq), v_fresh);
END $$;
