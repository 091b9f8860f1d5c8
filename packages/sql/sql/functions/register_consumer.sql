-- Subscribe a consumer to a queue at its latest tick: it sees events committed after now.
-- Returns 1, or 0 if it was registered already (its position is kept).
CREATE OR REPLACE FUNCTION pgferry.register_consumer(i_queue_name text, i_consumer_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_co int;
  v_tick bigint;
BEGIN
  PERFORM pgferry._check_name('consumer', i_consumer_name);
  q := pgferry._queue(i_queue_name);
  v_co := pgferry._consumer_id(i_consumer_name);
  PERFORM pgferry._check_consumer_access(v_co);
  IF EXISTS (SELECT 1 FROM pgferry.subscription WHERE sub_queue = q.queue_id AND sub_consumer = v_co) THEN
    RETURN 0;
  END IF;
  SELECT max(tick_id) INTO v_tick FROM pgferry.tick WHERE tick_queue = q.queue_id;
  RETURN pgferry._subscribe(q.queue_id, v_co, NULL, v_tick);
END $$;
