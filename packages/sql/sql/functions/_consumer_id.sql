-- The consumer's id, created on first use and owned by the session user (see
-- _check_consumer_access); a sub-consumer "consumer#sub" belongs to its consumer's owner.
CREATE OR REPLACE FUNCTION pgferry._consumer_id(i_consumer_name text)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_id int;
  v_owner name;
BEGIN
  SELECT co_id INTO v_id FROM pgferry.consumer WHERE co_name = i_consumer_name;
  IF NOT FOUND THEN
    IF strpos(i_consumer_name, '#') > 0 THEN
      SELECT co_owner INTO v_owner FROM pgferry.consumer WHERE co_name = split_part(i_consumer_name, '#', 1);
    END IF;
    INSERT INTO pgferry.consumer (co_name, co_owner) VALUES (i_consumer_name, coalesce(v_owner, session_user))
    ON CONFLICT (co_name) DO UPDATE SET co_name = EXCLUDED.co_name
    RETURNING co_id INTO v_id;
  END IF;
  RETURN v_id;
END $$;
