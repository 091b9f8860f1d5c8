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
  RETURN pgferry._subscribe(p.sub_queue, v_co, p.sub_id, NULL);
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
  DELETE FROM pgferry.subscription_reg WHERE sub_id = s.sub_id;
  RETURN 1;
END $$;

-- A sub-consumer's batch: its open one, else one taken over from a sibling silent for
-- longer than i_dead_interval (it gets a new batch id, so the stale holder's finish_batch
-- fails with PF005), else the consumer's next tick range. NULL when there is nothing to do.
CREATE OR REPLACE FUNCTION pgferry.next_batch(i_queue_name text, i_consumer_name text,
                                              i_subconsumer_name text, i_dead_interval interval DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p pgferry.subscription;
  s pgferry.subscription;
  dead pgferry.subscription;
  v_dead int;
  v_next bigint;
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
      PERFORM pgferry._touch_subscription(s.sub_id);
    END IF;
    RETURN NULL;
  END IF;
  -- Locking the parent serializes the sub-consumers of one consumer.
  p := pgferry._subscription(i_queue_name, i_consumer_name);
  s := pgferry._subscription(i_queue_name, i_consumer_name || '#' || i_subconsumer_name);
  IF s.sub_batch IS NOT NULL THEN
    s.sub_active := now();
    PERFORM pgferry._set_position(s);
    RETURN s.sub_batch;
  END IF;
  IF i_dead_interval IS NOT NULL THEN
    SELECT r.sub_id INTO v_dead
      FROM pgferry.subscription sub JOIN pgferry.subscription_reg r ON r.sub_id = sub.sub_id
     WHERE sub.sub_parent = p.sub_id AND sub.sub_batch IS NOT NULL AND sub.sub_active < now() - i_dead_interval
     ORDER BY sub.sub_active LIMIT 1 FOR UPDATE OF r SKIP LOCKED;
    IF FOUND THEN
      dead := pgferry._subscription_state(v_dead);
    END IF;
    -- Read again under the lock: the holder may have finished or shown up meanwhile.
    IF dead.sub_batch IS NOT NULL AND dead.sub_active < now() - i_dead_interval THEN
      s.sub_last_tick := dead.sub_last_tick;
      s.sub_next_tick := dead.sub_next_tick;
      dead.sub_last_tick := NULL;
      dead.sub_next_tick := NULL;
      dead.sub_batch := NULL;
      dead.sub_batch_start := NULL;
      PERFORM pgferry._set_position(dead);
      s.sub_batch := nextval('pgferry.batch_id_seq');
      s.sub_batch_start := now();
      s.sub_active := now();
      PERFORM pgferry._set_position(s);
      RETURN s.sub_batch;
    END IF;
  END IF;
  SELECT tick_id INTO v_next FROM pgferry.tick
   WHERE tick_queue = p.sub_queue AND tick_id > p.sub_last_tick ORDER BY tick_id LIMIT 1;
  IF v_next IS NULL THEN
    IF s.sub_active < now() - interval '10 seconds' THEN
      s.sub_active := now();
      PERFORM pgferry._set_position(s);
    END IF;
    RETURN NULL;
  END IF;
  s.sub_last_tick := p.sub_last_tick;
  s.sub_next_tick := v_next;
  s.sub_batch := nextval('pgferry.batch_id_seq');
  s.sub_batch_start := now();
  s.sub_active := now();
  PERFORM pgferry._set_position(s);
  p.sub_last_tick := v_next;
  p.sub_active := now();
  PERFORM pgferry._set_position(p);
  RETURN s.sub_batch;
END $$;
