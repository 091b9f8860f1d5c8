-- PGQ's queue administration on pgferry's queues (schema pgq, optional: see README "PGQ
-- compatibility"). Each function keeps PGQ's signature and result and calls pgferry.

-- The PGQ API level this schema implements (pgferry.version() is pgferry's own).
CREATE OR REPLACE FUNCTION pgq.version()
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT '3.5.2'::text
$$;

-- 1 if created, 0 if it exists. PGQ has no dead letters: a consumer decides itself what to
-- do with an event it retried too often (ev_retry), so queues created here allow the most
-- retries pgferry knows (max_retries 1000) before an event becomes a dead letter.
CREATE OR REPLACE FUNCTION pgq.create_queue(i_queue_name text)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_queue_name IS NULL THEN
    RAISE EXCEPTION 'Invalid NULL value' USING ERRCODE = 'PF003';
  END IF;
  IF pgferry.create_queue(i_queue_name) = 0 THEN
    RETURN 0;
  END IF;
  PERFORM pgferry.set_queue_config(i_queue_name, 'max_retries', '1000');
  RETURN 1;
END $$;

-- Drop a queue; x_force also unregisters its consumers. Returns 1.
CREATE OR REPLACE FUNCTION pgq.drop_queue(x_queue_name text, x_force boolean)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.drop_queue(x_queue_name, coalesce(x_force, false))
$$;

CREATE OR REPLACE FUNCTION pgq.drop_queue(x_queue_name text)
RETURNS integer LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.drop_queue(x_queue_name, false)
$$;

-- PGQ's keys (ticker_max_count, ticker_max_lag, ticker_idle_period, ticker_paused,
-- rotation_period, external_ticker) and pgferry's others; with or without "queue_". 1.
CREATE OR REPLACE FUNCTION pgq.set_queue_config(x_queue_name text, x_param_name text, x_param_value text)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF x_queue_name IS NULL OR x_param_name IS NULL THEN
    RAISE EXCEPTION 'Invalid NULL value' USING ERRCODE = 'PF003';
  END IF;
  RETURN pgferry.set_queue_config(x_queue_name, x_param_name, x_param_value);
END $$;

-- A name with a schema, each part quoted as needed ("public" when there is none).
CREATE OR REPLACE FUNCTION pgq.quote_fqname(i_name text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN pg_catalog.strpos(i_name, '.') > 0
              THEN pg_catalog.quote_ident(pg_catalog.split_part(i_name, '.', 1)) || '.'
                   || pg_catalog.quote_ident(pg_catalog.substr(i_name, pg_catalog.strpos(i_name, '.') + 1))
              ELSE 'public.' || pg_catalog.quote_ident(i_name) END
$$;
