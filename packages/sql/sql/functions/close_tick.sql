-- The last tick of a queue whose role moves to another node (a root handing over in a
-- switchover): made now, and from then on the queue takes its ticks from outside
-- (external_ticker), in this transaction, so that no ticker makes one after it. Inserts
-- must be disabled already, and the transactions that could still write must have ended
-- (see the queue library's closeQueue): the tick then holds every event of the queue.
-- Returns the tick id.
CREATE OR REPLACE FUNCTION pgferry.close_tick(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_fresh boolean := pg_catalog.pg_current_xact_id_if_assigned() IS NULL;  -- before the counter is read
  q pgferry.queue;
  v_tick bigint;
BEGIN
  q := pgferry._queue(i_queue_name);
  PERFORM pgferry._check_own_ticks(q);
  IF NOT q.queue_disable_insert THEN
    RAISE EXCEPTION 'queue "%" still takes inserts: its last tick would not be its last', i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Disable inserts first (set_queue_config(queue, ''disable_insert'', ''true'')).';
  END IF;
  v_tick := pgferry._make_tick(q, pgferry._event_seq_value(q.queue_event_seq), v_fresh);
  UPDATE pgferry.queue SET queue_external_ticker = true WHERE queue_id = q.queue_id;
  RETURN v_tick;
END $$;
