-- Close a batch: the consumer moves to the batch's end tick. Returns 1. A batch that is
-- not open (finished already, or taken over by another sub-consumer) is an error (PF005):
-- a caller that processed it in the same transaction must roll back.
CREATE OR REPLACE FUNCTION pgferry.finish_batch(i_batch_id bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  s := pgferry._open_batch(i_batch_id);
  -- Lock, then read again: a concurrent finish or takeover may have committed meanwhile.
  PERFORM 1 FROM pgferry.subscription_reg WHERE sub_id = s.sub_id FOR UPDATE;
  s := pgferry._subscription_state(s.sub_id);
  IF s.sub_batch IS DISTINCT FROM i_batch_id THEN
    PERFORM pgferry._open_batch(i_batch_id);  -- raises PF005
  END IF;
  s.sub_last_tick := CASE WHEN s.sub_parent IS NULL THEN s.sub_next_tick END;
  s.sub_next_tick := NULL;
  s.sub_batch := NULL;
  s.sub_batch_start := NULL;
  s.sub_active := pg_catalog.now();
  PERFORM pgferry._set_position(s);
  RETURN 1;
END $$;
