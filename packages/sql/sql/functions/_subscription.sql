-- The subscription of a consumer on a queue, locked FOR UPDATE, or a clear error (PF002).
CREATE OR REPLACE FUNCTION pgferry._subscription(i_queue_name text, i_consumer_name text)
RETURNS pgferry.subscription LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  SELECT sub.* INTO s
    FROM pgferry.subscription sub JOIN pgferry.consumer c ON c.co_id = sub.sub_consumer
   WHERE sub.sub_queue = q.queue_id AND c.co_name = i_consumer_name
     FOR UPDATE OF sub;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'consumer "%" is not registered on queue "%"', i_consumer_name, i_queue_name
      USING ERRCODE = 'PF002',
            HINT = 'Register it with pgferry.register_consumer(queue, consumer).';
  END IF;
  PERFORM pgferry._check_consumer_access(s.sub_consumer);
  RETURN s;
END $$;
