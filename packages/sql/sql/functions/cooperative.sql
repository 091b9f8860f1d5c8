-- Cooperative consumers (PGQ coop): sub-consumers of one consumer take different batches
-- from the consumer's position. A sub-consumer is stored as consumer "<consumer>#<sub>"
-- with sub_parent pointing at the consumer's subscription.

-- Register a sub-consumer (and the consumer itself if needed). Returns 1, or 0 if it was
-- registered already.
CREATE OR REPLACE FUNCTION pgferry.register_subconsumer(i_queue_name text, i_consumer_name text,
                                                        i_subconsumer_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p pgferry.subscription;
  v_co int;
BEGIN
  PERFORM pgferry._check_name('subconsumer', i_subconsumer_name);
  PERFORM pgferry.register_consumer(i_queue_name, i_consumer_name);
  p := pgferry._subscription(i_queue_name, i_consumer_name);
  IF p.sub_parent IS NOT NULL THEN
    RAISE EXCEPTION '"%" is itself a sub-consumer', i_consumer_name USING ERRCODE = 'PF003';
  END IF;
  IF p.sub_batch IS NOT NULL THEN
    RAISE EXCEPTION 'consumer "%" on queue "%" has an open batch', i_consumer_name, i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Finish it before turning the consumer cooperative.';
  END IF;
  v_co := pgferry._consumer_id(i_consumer_name || '#' || i_subconsumer_name);
  INSERT INTO pgferry.subscription (sub_queue, sub_consumer, sub_parent)
  VALUES (p.sub_queue, v_co, p.sub_id)
  ON CONFLICT (sub_queue, sub_consumer) DO NOTHING;
  RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
END $$;

-- Remove a sub-consumer. Refused while it holds a batch (finish it, or let another
-- sub-consumer take it over). Returns 1.
CREATE OR REPLACE FUNCTION pgferry.unregister_subconsumer(i_queue_name text, i_consumer_name text,
                                                          i_subconsumer_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  s := pgferry._subscription(i_queue_name, i_consumer_name || '#' || i_subconsumer_name);
  IF s.sub_batch IS NOT NULL THEN
    RAISE EXCEPTION 'sub-consumer "%" of "%" holds batch %', i_subconsumer_name, i_consumer_name, s.sub_batch
      USING ERRCODE = 'PF006', HINT = 'Finish the batch first, or let another sub-consumer take it over.';
  END IF;
  DELETE FROM pgferry.subscription WHERE sub_id = s.sub_id;
  RETURN 1;
END $$;

-- A sub-consumer's batch: its open one, else one taken over from a sibling silent for
-- longer than i_dead_interval (it gets a new batch id, so the stale holder's finish_batch
-- returns 0), else the consumer's next tick range. NULL when there is nothing to do.
CREATE OR REPLACE FUNCTION pgferry.next_batch(i_queue_name text, i_consumer_name text,
                                              i_subconsumer_name text, i_dead_interval interval DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p pgferry.subscription;
  s pgferry.subscription;
  dead pgferry.subscription;
  v_next bigint;
  v_batch bigint;
BEGIN
  -- An idle poll (no batch to hold, take over or start) takes no lock, as in next_batch.
  SELECT sub.* INTO p
    FROM pgferry.subscription sub
    JOIN pgferry.queue q ON q.queue_id = sub.sub_queue
    JOIN pgferry.consumer c ON c.co_id = sub.sub_consumer
   WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name;
  SELECT sub.* INTO s
    FROM pgferry.subscription sub JOIN pgferry.consumer c ON c.co_id = sub.sub_consumer
   WHERE sub.sub_parent = p.sub_id AND c.co_name = i_consumer_name || '#' || i_subconsumer_name;
  IF s.sub_id IS NOT NULL AND s.sub_batch IS NULL
     AND NOT EXISTS (SELECT 1 FROM pgferry.tick WHERE tick_queue = p.sub_queue AND tick_id > p.sub_last_tick)
     AND (i_dead_interval IS NULL
          OR NOT EXISTS (SELECT 1 FROM pgferry.subscription
                          WHERE sub_parent = p.sub_id AND sub_batch IS NOT NULL
                            AND sub_active < now() - i_dead_interval)) THEN
    PERFORM pgferry._check_consumer_access(s.sub_consumer);
    IF s.sub_active < now() - interval '10 seconds' THEN
      UPDATE pgferry.subscription SET sub_active = now() WHERE sub_id = s.sub_id;
    END IF;
    RETURN NULL;
  END IF;
  -- Locking the parent serializes the sub-consumers of one consumer.
  p := pgferry._subscription(i_queue_name, i_consumer_name);
  s := pgferry._subscription(i_queue_name, i_consumer_name || '#' || i_subconsumer_name);
  IF s.sub_batch IS NOT NULL THEN
    UPDATE pgferry.subscription SET sub_active = now() WHERE sub_id = s.sub_id;
    RETURN s.sub_batch;
  END IF;
  IF i_dead_interval IS NOT NULL THEN
    SELECT * INTO dead FROM pgferry.subscription
     WHERE sub_parent = p.sub_id AND sub_batch IS NOT NULL AND sub_active < now() - i_dead_interval
     ORDER BY sub_active LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
      UPDATE pgferry.subscription
         SET sub_last_tick = NULL, sub_next_tick = NULL, sub_batch = NULL, sub_batch_start = NULL
       WHERE sub_id = dead.sub_id;
      v_batch := nextval('pgferry.batch_id_seq');
      UPDATE pgferry.subscription
         SET sub_last_tick = dead.sub_last_tick, sub_next_tick = dead.sub_next_tick, sub_batch = v_batch,
             sub_batch_start = now(), sub_active = now()
       WHERE sub_id = s.sub_id;
      RETURN v_batch;
    END IF;
  END IF;
  SELECT tick_id INTO v_next FROM pgferry.tick
   WHERE tick_queue = p.sub_queue AND tick_id > p.sub_last_tick ORDER BY tick_id LIMIT 1;
  IF v_next IS NULL THEN
    IF s.sub_active < now() - interval '10 seconds' THEN
      UPDATE pgferry.subscription SET sub_active = now() WHERE sub_id = s.sub_id;
    END IF;
    RETURN NULL;
  END IF;
  v_batch := nextval('pgferry.batch_id_seq');
  UPDATE pgferry.subscription
     SET sub_last_tick = p.sub_last_tick, sub_next_tick = v_next, sub_batch = v_batch,
         sub_batch_start = now(), sub_active = now()
   WHERE sub_id = s.sub_id;
  UPDATE pgferry.subscription SET sub_last_tick = v_next, sub_active = now() WHERE sub_id = p.sub_id;
  RETURN v_batch;
END $$;
