CREATE OR REPLACE FUNCTION pgferry.version()
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT '0.1.0'::text $$;
