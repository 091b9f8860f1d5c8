-- The subscription of a consumer on a queue, its registration row locked FOR UPDATE (which
-- serializes every change of its position), or a clear error (PF002). The position is read
-- after the lock, so it is the latest committed one.
CREATE OR REPLACE FUNCTION pgferry._subscription(i_queue_name text, i_consumer_name text)
RETURNS pgferry.subscription LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  s pgferry.subscription;
  v_id int;
BEGIN
  q := pgferry._queue(i_queue_name);
  SELECT r.sub_id INTO v_id
    FROM pgferry.subscription_reg r JOIN pgferry.consumer c ON c.co_id = r.sub_consumer
   WHERE r.sub_queue = q.queue_id AND c.co_name = i_consumer_name
     FOR UPDATE OF r;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'consumer "%" is not registered on queue "%"', i_consumer_name, i_queue_name
      USING ERRCODE = 'PF002',
            HINT = 'Register it with pgferry.register_consumer(queue, consumer).';
  END IF;
  s := pgferry._subscription_state(v_id);
  PERFORM pgferry._check_consumer_access(s.sub_consumer);
  RETURN s;
END $$;

-- A subscription with its current position (the newest row of its position log). Every
-- registration has one; none visible means this snapshot predates a rotation of the log
-- (TRUNCATE is not MVCC-safe): a position computed from it would be wrong, so the caller is
-- told to retry. Volatile, so that in READ COMMITTED its statement takes its snapshot
-- after the locks of the partitions it reads (a rotation in progress is waited for).
CREATE OR REPLACE FUNCTION pgferry._subscription_state(i_sub_id int)
RETURNS pgferry.subscription LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  SELECT * INTO s FROM pgferry.subscription WHERE sub_id = i_sub_id;
  IF FOUND AND NOT EXISTS (SELECT 1 FROM pgferry.subscription_pos WHERE sp_sub = i_sub_id) THEN
    RAISE EXCEPTION 'the position of subscription % is not visible to this transaction', i_sub_id
      USING ERRCODE = 'serialization_failure',
            HINT = 'The position log rotated after this transaction''s snapshot was taken; retry the transaction.';
  END IF;
  RETURN s;
END $$;

-- Record a subscription's new position: one row appended to the position log (never an
-- UPDATE: see migration 006). The caller holds the registration row's lock. PL/pgSQL:
-- planned once per session (see _event_seq_value); it runs twice per batch.
CREATE OR REPLACE FUNCTION pgferry._set_position(s pgferry.subscription)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO pgferry.subscription_pos (sp_sub, sp_last_tick, sp_next_tick, sp_batch, sp_batch_start, sp_active)
  VALUES (s.sub_id, s.sub_last_tick, s.sub_next_tick, s.sub_batch, s.sub_batch_start, s.sub_active);
END $$;

-- Register a subscription at a tick (NULL: an idle sub-consumer). Returns 1, or 0 if it
-- was registered already (its position is kept).
CREATE OR REPLACE FUNCTION pgferry._subscribe(i_queue int, i_consumer int, i_parent int, i_tick bigint)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_id int;
BEGIN
  INSERT INTO pgferry.subscription_reg (sub_queue, sub_consumer, sub_parent)
  VALUES (i_queue, i_consumer, i_parent)
  ON CONFLICT (sub_queue, sub_consumer) DO NOTHING
  RETURNING sub_id INTO v_id;
  IF v_id IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO pgferry.subscription_pos (sp_sub, sp_last_tick) VALUES (v_id, i_tick);
  RETURN 1;
END $$;

-- "Last seen" of a polling consumer, at most every 10 s: a log row like any change, with
-- the registration locked so that it cannot overtake a concurrent change of the position.
-- Skipped when someone else holds the lock (that one records activity itself).
CREATE OR REPLACE FUNCTION pgferry._touch_subscription(i_sub_id int)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  PERFORM 1 FROM pgferry.subscription_reg WHERE sub_id = i_sub_id FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  s := pgferry._subscription_state(i_sub_id);
  IF s.sub_active < pg_catalog.now() - interval '10 seconds' THEN
    s.sub_active := pg_catalog.now();
    PERFORM pgferry._set_position(s);
  END IF;
END $$;

-- The view is read-only but for DELETE (unregister): removing the registration is enough,
-- its log rows go with the next rotations.
CREATE OR REPLACE FUNCTION pgferry._subscription_delete()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM pgferry.subscription_reg WHERE sub_id = OLD.sub_id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN OLD;
END $$;
DROP TRIGGER IF EXISTS subscription_delete ON pgferry.subscription;
CREATE TRIGGER subscription_delete INSTEAD OF DELETE ON pgferry.subscription
  FOR EACH ROW EXECUTE FUNCTION pgferry._subscription_delete();
