-- Names of queues and consumers: 1..100 characters of [A-Za-z0-9_.:-]. '#' is reserved
-- for sub-consumers ("consumer#sub").
CREATE OR REPLACE FUNCTION pgferry._check_name(i_kind text, i_name text)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_name IS NULL OR i_name !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
    RAISE EXCEPTION 'invalid % name: %', i_kind, coalesce(quote_literal(i_name), 'NULL')
      USING ERRCODE = 'PF003',
            HINT = 'Use 1 to 100 characters: letters, digits, "_", ".", ":" or "-".';
  END IF;
END $$;
