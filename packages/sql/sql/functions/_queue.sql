-- The queue row by name, or a clear error (PF001).
CREATE OR REPLACE FUNCTION pgferry._queue(i_queue_name text)
RETURNS pgferry.queue LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  SELECT * INTO q FROM pgferry.queue WHERE queue_name = i_queue_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'queue "%" does not exist', i_queue_name
      USING ERRCODE = 'PF001',
            HINT = 'Create it with pgferry.create_queue(), or list queues with pgferry.get_queue_info().';
  END IF;
  RETURN q;
END $$;
