-- Make a new, unused queue a branch's copy of its provider's queue: ticked from outside
-- (tick_external), closed to the application's writes (disable_insert: a branch's tables
-- change only by replication), and starting at the provider's tick i_tick_id, where the
-- branch's own consumer on the provider starts. The tick create_queue made is replaced.
-- Refused for a queue with events or consumers: its ticks are in use. Returns 1.
CREATE OR REPLACE FUNCTION pgferry.branch_queue_start(i_queue_name text, i_tick_id bigint, i_tick_time timestamptz, i_event_seq bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  PERFORM 1 FROM pgferry.queue WHERE queue_id = q.queue_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM pgferry.subscription_reg WHERE sub_queue = q.queue_id)
     OR EXISTS (SELECT 1 FROM pgferry.event WHERE ev_queue = q.queue_id) THEN
    RAISE EXCEPTION 'queue "%" is in use (it has consumers or events): it cannot start as a branch''s queue', i_queue_name
      USING ERRCODE = 'PF006', HINT = 'A branch starts with a new queue.';
  END IF;
  UPDATE pgferry.queue SET queue_external_ticker = true, queue_disable_insert = true WHERE queue_id = q.queue_id;
  DELETE FROM pgferry.tick WHERE tick_queue = q.queue_id;
  PERFORM pgferry.tick_external(i_queue_name, i_tick_id, i_tick_time, i_event_seq);
  RETURN 1;
END $$;
