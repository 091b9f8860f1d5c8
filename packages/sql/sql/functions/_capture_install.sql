-- (Re)create the capture trigger functions of a captured table, the composite type of its
-- images and its guard view; the
-- triggers themselves are created once, by capture_add_table. Run at every install too
-- (pgferry._capture_refresh), so an upgrade brings every captured table the new code.
--
-- The functions are SECURITY DEFINER and owned by the owner of schema pgferry: a writer of
-- the table needs no pgferry grant. Nobody else may execute them (a trigger function runs
-- without an EXECUTE check, but creating a trigger that calls it needs one): nobody can
-- attach them to another table to forge its events.
--
-- Where DDL is not followed by event triggers (capture_ddl_follow.sql), a guard view reads
-- every column of the table, so the columns the functions read by position cannot be
-- dropped or change type while the table is captured (PostgreSQL refuses with "view
-- pgferry.capture_N_guard depends on column ..."): run the change through execute, or
-- remove the table from capture, change it, and add it again.
CREATE OR REPLACE FUNCTION pgferry._capture_install(ct pgferry.capture_table)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_op text;
  v_owner name := (SELECT nspowner::regrole::name FROM pg_namespace WHERE nspname = 'pgferry');
  v_guard text := format('pgferry.capture_%s_guard', ct.ct_id);
  v_image text := format('pgferry.capture_%s_image', ct.ct_id);
BEGIN
  -- The image's shape: the captured columns' names as captured, all text.
  EXECUTE format('DROP TYPE IF EXISTS %s', v_image);
  EXECUTE format('CREATE TYPE %s AS (%s)', v_image,
                 (SELECT string_agg(format('%I pg_catalog.text', name), ', ' ORDER BY o)
                    FROM unnest(ct.ct_columns) WITH ORDINALITY AS c(name, o)
                   WHERE NOT name = ANY (ct.ct_ignore_columns)));
  EXECUTE format('ALTER TYPE %s OWNER TO %I', v_image, v_owner);
  FOREACH v_op IN ARRAY ARRAY['ins', 'upd', 'del', 'trunc'] LOOP
    EXECUTE pgferry._capture_trigger_sql(ct, v_op);
    EXECUTE format('REVOKE ALL ON FUNCTION pgferry._capture_%s_%s() FROM PUBLIC', ct.ct_id, v_op);
    EXECUTE format('ALTER FUNCTION pgferry._capture_%s_%s() OWNER TO %I', ct.ct_id, v_op, v_owner);
  END LOOP;
  IF pgferry._capture_ddl_followed() THEN
    EXECUTE format('DROP VIEW IF EXISTS %s', v_guard);  -- the event triggers follow (capture_ddl_follow.sql)
  ELSIF to_regclass(v_guard) IS NULL THEN
    EXECUTE format('CREATE VIEW %s AS SELECT * FROM %s WHERE false', v_guard, ct.ct_table_oid::regclass);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', v_guard);
    EXECUTE format('COMMENT ON VIEW %s IS %L', v_guard,
                   format('pgferry captures %s: its columns cannot be dropped or retyped until it is removed from capture',
                          ct.ct_table_name));
  END IF;
END $$;

-- Regenerate the capture functions of every captured table (the installer runs it).
CREATE OR REPLACE FUNCTION pgferry._capture_refresh()
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  ct pgferry.capture_table;
  v_count int := 0;
BEGIN
  FOR ct IN SELECT * FROM pgferry.capture_table c
             WHERE EXISTS (SELECT FROM pg_class WHERE oid = c.ct_table_oid) ORDER BY ct_id LOOP
    PERFORM pgferry._capture_install(ct);
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END $$;
