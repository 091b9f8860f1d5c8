-- Consumers. A consumer belongs to the role that registered it, as in pgferry.

-- Subscribe at the queue's last tick: 1, or 0 if it was registered already.
CREATE OR REPLACE FUNCTION pgq.register_consumer(x_queue_name text, x_consumer_id text)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.register_consumer(x_queue_name, x_consumer_id)
$$;

-- Subscribe at a tick (NULL: the last one), or move a registered consumer there. PGQ's
-- result: 1 for a new registration, 0 for one that existed (and was moved). With the
-- caller's rights: moving a consumer is pgferry.register_consumer_at's, for pgferry_admin.
CREATE OR REPLACE FUNCTION pgq.register_consumer_at(x_queue_name text, x_consumer_name text, x_tick_pos bigint)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_known boolean;
BEGIN
  IF x_tick_pos IS NULL THEN
    RETURN pgferry.register_consumer(x_queue_name, x_consumer_name);
  END IF;
  v_known := EXISTS (SELECT 1 FROM pgferry.subscription s
                       JOIN pgferry.queue q ON q.queue_id = s.sub_queue
                       JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
                      WHERE q.queue_name = x_queue_name AND c.co_name = x_consumer_name);
  PERFORM pgferry.register_consumer_at(x_queue_name, x_consumer_name, x_tick_pos);
  RETURN CASE WHEN v_known THEN 0 ELSE 1 END;
END $$;

-- Unsubscribe (with its pending retries and its sub-consumers): the number of
-- subscriptions removed, 0 if it was not registered.
CREATE OR REPLACE FUNCTION pgq.unregister_consumer(x_queue_name text, x_consumer_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_sub int;
  v_subs int;
BEGIN
  SELECT s.sub_id INTO v_sub
    FROM pgferry.subscription_reg s
    JOIN pgferry.queue q ON q.queue_id = s.sub_queue
    JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
   WHERE q.queue_name = x_queue_name AND c.co_name = x_consumer_name AND s.sub_parent IS NULL;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  SELECT 1 + pg_catalog.count(*) INTO v_subs FROM pgferry.subscription_reg WHERE sub_parent = v_sub;
  PERFORM pgferry.unregister_consumer(x_queue_name, x_consumer_name);
  RETURN v_subs;
END $$;
