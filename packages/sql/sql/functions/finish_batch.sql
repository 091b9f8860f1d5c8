-- Close a batch: the consumer moves to the batch's end tick. Returns 1, or 0 when the
-- batch is not open (already finished, or taken over by another sub-consumer): a caller
-- that processed the batch in the same transaction must then roll back.
CREATE OR REPLACE FUNCTION pgferry.finish_batch(i_batch_id bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pgferry._check_consumer_access(sub_consumer) FROM pgferry.subscription WHERE sub_batch = i_batch_id;
  UPDATE pgferry.subscription
     SET sub_last_tick = CASE WHEN sub_parent IS NULL THEN sub_next_tick END,
         sub_next_tick = NULL, sub_batch = NULL, sub_batch_start = NULL, sub_active = now()
   WHERE sub_batch = i_batch_id;
  RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
END $$;
