-- Remove a consumer's subscription (and its sub-consumers and pending retries). This is
-- also how an operator cuts loose a stale consumer that blocks rotation. Dead letters are
-- kept. Returns 1.
CREATE OR REPLACE FUNCTION pgferry.unregister_consumer(i_queue_name text, i_consumer_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  s := pgferry._subscription(i_queue_name, i_consumer_name);
  DELETE FROM pgferry.subscription WHERE sub_id = s.sub_id;
  RETURN 1;
END $$;
