-- pgq_coop: cooperative consumers on pgferry's sub-consumers. A sub-consumer is stored as
-- "consumer#sub" (PGQ: "consumer.sub").

CREATE OR REPLACE FUNCTION pgq_coop.version()
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT '3.4.1'::text
$$;

-- Register a sub-consumer (and its consumer if new): 1, or 0 if it was registered already.
CREATE OR REPLACE FUNCTION pgq_coop.register_subconsumer(i_queue_name text, i_consumer_name text,
                                                         i_subconsumer_name text)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.register_subconsumer(i_queue_name, i_consumer_name, i_subconsumer_name)
$$;

-- Remove a sub-consumer: 1, or 0 if it was not registered. One that holds a batch: an error
-- when i_batch_handling is 0; with 1 its batch is closed first, its events skipped.
CREATE OR REPLACE FUNCTION pgq_coop.unregister_subconsumer(i_queue_name text, i_consumer_name text,
                                                           i_subconsumer_name text, i_batch_handling integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_batch bigint;
BEGIN
  SELECT s.sub_batch INTO v_batch
    FROM pgferry.subscription s
    JOIN pgferry.queue q ON q.queue_id = s.sub_queue
    JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
   WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name || '#' || i_subconsumer_name
     AND s.sub_parent IS NOT NULL;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  IF v_batch IS NOT NULL THEN
    IF i_batch_handling IS DISTINCT FROM 1 THEN
      RAISE EXCEPTION 'subconsumer has active batch' USING ERRCODE = 'PF006',
        HINT = 'Finish the batch, or pass i_batch_handling = 1 to close it without processing its events.';
    END IF;
    PERFORM pgferry.finish_batch(v_batch);
  END IF;
  RETURN pgferry.unregister_subconsumer(i_queue_name, i_consumer_name, i_subconsumer_name);
END $$;

-- A sub-consumer's batch (registering it if needed): its open one, else one taken over from
-- a sibling silent for longer than i_dead_interval (under a new batch id), else the
-- consumer's next tick range; NULL when there is nothing to do.
CREATE OR REPLACE FUNCTION pgq_coop.next_batch(i_queue_name text, i_consumer_name text,
                                               i_subconsumer_name text, i_dead_interval interval)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgferry.subscription_reg s
                   JOIN pgferry.queue q ON q.queue_id = s.sub_queue
                   JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
                  WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name || '#' || i_subconsumer_name) THEN
    PERFORM pgferry.register_subconsumer(i_queue_name, i_consumer_name, i_subconsumer_name);
  END IF;
  RETURN pgferry.next_batch(i_queue_name, i_consumer_name, i_subconsumer_name, i_dead_interval);
END $$;

CREATE OR REPLACE FUNCTION pgq_coop.next_batch(i_queue_name text, i_consumer_name text, i_subconsumer_name text)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgq_coop.next_batch(i_queue_name, i_consumer_name, i_subconsumer_name, NULL::interval)
$$;

-- The custom forms take no conditions here (a sub-consumer's batch is always one tick
-- range): with all of them NULL they are next_batch, otherwise an error.
CREATE OR REPLACE FUNCTION pgq_coop.next_batch_custom(i_queue_name text, i_consumer_name text,
  i_subconsumer_name text, i_min_lag interval, i_min_count integer, i_min_interval interval,
  i_dead_interval interval)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_min_lag IS NOT NULL OR i_min_count IS NOT NULL OR i_min_interval IS NOT NULL THEN
    RAISE EXCEPTION 'pgq_coop.next_batch_custom: batch conditions (min_lag, min_count, min_interval) are not supported'
      USING ERRCODE = 'feature_not_supported', HINT = 'Pass NULL for them, or use pgq.next_batch_custom with a plain consumer.';
  END IF;
  RETURN pgq_coop.next_batch(i_queue_name, i_consumer_name, i_subconsumer_name, i_dead_interval);
END $$;

CREATE OR REPLACE FUNCTION pgq_coop.next_batch_custom(i_queue_name text, i_consumer_name text,
  i_subconsumer_name text, i_min_lag interval, i_min_count integer, i_min_interval interval)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgq_coop.next_batch_custom(i_queue_name, i_consumer_name, i_subconsumer_name,
                                    i_min_lag, i_min_count, i_min_interval, NULL)
$$;

-- Close a sub-consumer's batch: 1; one that is not open (finished, or taken over by a
-- sibling) gives PGQ's WARNING and 0.
CREATE OR REPLACE FUNCTION pgq_coop.finish_batch(i_batch_id bigint)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgq.finish_batch(i_batch_id)
$$;
