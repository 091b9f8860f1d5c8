-- Maintenance, as pgqd calls it: maint_operations() lists the calls, each made in its own
-- transaction as "SELECT func_name(func_arg)" (func_name() when func_arg is NULL). They are
-- pgferry's (rotation, retries, tick cleanup, metadata rotation), so pgqd or pgferry's own
-- daemon maintain a queue the same way.
CREATE OR REPLACE FUNCTION pgq.maint_operations(OUT func_name text, OUT func_arg text)
RETURNS SETOF record LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT o.func_name, o.func_arg FROM pgferry.maint_operations() o
$$;

CREATE OR REPLACE FUNCTION pgq.maint_rotate_tables_step1(i_queue_name text)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.maint_rotate_tables_step1(i_queue_name)
$$;

CREATE OR REPLACE FUNCTION pgq.maint_rotate_tables_step2()
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.maint_rotate_tables_step2()
$$;

-- Due retry events of every queue back into their queues: how many were moved.
CREATE OR REPLACE FUNCTION pgq.maint_retry_events()
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.maint_retry_events()
$$;

-- pgferry's event tables are TRUNCATEd and its position and tick logs are insert-only and
-- rotated: no table needs the VACUUM that PGQ's maintenance asked for.
CREATE OR REPLACE FUNCTION pgq.maint_tables_to_vacuum()
RETURNS SETOF text LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT NULL::text WHERE false
$$;
