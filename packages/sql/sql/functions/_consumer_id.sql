-- The consumer's id, created on first use.
CREATE OR REPLACE FUNCTION pgferry._consumer_id(i_consumer_name text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  v_id int;
BEGIN
  SELECT co_id INTO v_id FROM pgferry.consumer WHERE co_name = i_consumer_name;
  IF NOT FOUND THEN
    INSERT INTO pgferry.consumer (co_name) VALUES (i_consumer_name)
    ON CONFLICT (co_name) DO UPDATE SET co_name = EXCLUDED.co_name
    RETURNING co_id INTO v_id;
  END IF;
  RETURN v_id;
END $$;
