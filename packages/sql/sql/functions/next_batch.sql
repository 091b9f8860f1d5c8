-- The consumer's current batch: the open one if there is one (the same batch until it is
-- finished), else a new one up to the next tick. NULL when there is no new tick.
CREATE OR REPLACE FUNCTION pgferry.next_batch(i_queue_name text, i_consumer_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  v_next bigint;
BEGIN
  -- An idle poll (no open batch, no new tick) takes no lock and writes nothing: a row lock
  -- takes a txid, and consumers poll all the time.
  SELECT sub.* INTO s
    FROM pgferry.subscription sub
    JOIN pgferry.queue q ON q.queue_id = sub.sub_queue
    JOIN pgferry.consumer c ON c.co_id = sub.sub_consumer
   WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name;
  IF FOUND AND s.sub_batch IS NULL
     AND NOT EXISTS (SELECT 1 FROM pgferry.subscription_reg WHERE sub_parent = s.sub_id)
     AND NOT EXISTS (SELECT 1 FROM pgferry.tick WHERE tick_queue = s.sub_queue AND tick_id > s.sub_last_tick) THEN
    PERFORM pgferry._check_consumer_access(s.sub_consumer);
    IF s.sub_active < now() - interval '10 seconds' THEN
      PERFORM pgferry._touch_subscription(s.sub_id);
    END IF;
    RETURN NULL;
  END IF;
  s := pgferry._subscription(i_queue_name, i_consumer_name);
  IF EXISTS (SELECT 1 FROM pgferry.subscription_reg WHERE sub_parent = s.sub_id) THEN
    RAISE EXCEPTION 'consumer "%" on queue "%" is cooperative', i_consumer_name, i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Use next_batch(queue, consumer, subconsumer).';
  END IF;
  IF s.sub_batch IS NOT NULL THEN
    s.sub_active := now();
    PERFORM pgferry._set_position(s);
    RETURN s.sub_batch;
  END IF;
  SELECT tick_id INTO v_next FROM pgferry.tick
   WHERE tick_queue = s.sub_queue AND tick_id > s.sub_last_tick ORDER BY tick_id LIMIT 1;
  IF v_next IS NULL THEN
    -- Record "last seen" at most every 10 s (a log row each time).
    IF s.sub_active < now() - interval '10 seconds' THEN
      s.sub_active := now();
      PERFORM pgferry._set_position(s);
    END IF;
    RETURN NULL;
  END IF;
  s.sub_next_tick := v_next;
  s.sub_batch := nextval('pgferry.batch_id_seq');
  s.sub_batch_start := now();
  s.sub_active := now();
  PERFORM pgferry._set_position(s);
  RETURN s.sub_batch;
END $$;
