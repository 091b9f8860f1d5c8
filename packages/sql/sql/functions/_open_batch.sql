-- The subscription that holds an open batch, or a clear error (PF005). The batch is open
-- while it is on its subscription's newest position row. Volatile: see _subscription_state.
CREATE OR REPLACE FUNCTION pgferry._open_batch(i_batch_id bigint)
RETURNS pgferry.subscription LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  SELECT st.* INTO s
    FROM (SELECT DISTINCT sp_sub FROM pgferry.subscription_pos WHERE sp_batch = i_batch_id) b,
         pgferry._subscription_state(b.sp_sub) st
   WHERE st.sub_batch = i_batch_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'batch % is not open', i_batch_id
      USING ERRCODE = 'PF005',
            HINT = 'It was finished already, or taken over by another sub-consumer; get a new one with next_batch().';
  END IF;
  PERFORM pgferry._check_consumer_access(s.sub_consumer);
  RETURN s;
END $$;
