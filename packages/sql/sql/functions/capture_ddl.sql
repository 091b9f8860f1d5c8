-- DDL on captured tables, in stream order (the replicator's `execute`): in one transaction,
-- capture_ddl_begin(queue) lets the queue's captured tables change (their guard views go),
-- the caller runs its DDL, and capture_ddl_end(queue) captures each table as it is now: its
-- columns (names and positions), its name, and regenerated trigger functions and guard
-- views. What each table's captured columns were and are is returned, for the event that
-- carries the DDL to subscribers. A key or ignored column that is gone, or a captured
-- table that is gone, is refused (nothing of the transaction stays): remove the table from
-- capture first.
CREATE OR REPLACE FUNCTION pgferry.capture_ddl_begin(i_queue_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue := pgferry._queue(i_queue_name);
  ct pgferry.capture_table;
  v_count int := 0;
BEGIN
  FOR ct IN SELECT * FROM pgferry.capture_table WHERE ct_queue = q.queue_id ORDER BY ct_id LOOP
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgferry.capture'), ct.ct_table_oid::int);
    EXECUTE pg_catalog.format('DROP VIEW IF EXISTS pgferry.capture_%s_guard', ct.ct_id);
    v_count := v_count + 1;
  END LOOP;
  -- The event triggers (capture_ddl_follow) leave this queue's tables to capture_ddl_end.
  INSERT INTO pgferry.capture_ddl_open VALUES (q.queue_id, pg_catalog.pg_current_xact_id()) ON CONFLICT DO NOTHING;
  RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION pgferry.capture_ddl_end(
  i_queue_name text,
  OUT table_name text, OUT previous_name text, OUT columns_before text[], OUT columns_after text[])
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue := pgferry._queue(i_queue_name);
  ct pgferry.capture_table;
  v_cols record;
  v_name text;
  v_gone text;
BEGIN
  FOR ct IN SELECT * FROM pgferry.capture_table WHERE ct_queue = q.queue_id ORDER BY ct_id LOOP
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO v_name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ct.ct_table_oid;
    IF v_name IS NULL THEN
      RAISE EXCEPTION 'captured table % of queue "%" is gone', ct.ct_table_name, i_queue_name
        USING ERRCODE = 'PF006', HINT = 'Remove it from capture (and from its subscriptions) before dropping it.';
    END IF;
    SELECT * INTO v_cols FROM pgferry._capture_columns(ct.ct_table_oid);
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') INTO v_gone
      FROM pg_catalog.unnest(ct.ct_key_columns || ct.ct_ignore_columns) AS c WHERE NOT c = ANY (v_cols.names);
    IF v_gone IS NOT NULL THEN
      RAISE EXCEPTION 'the DDL takes key or ignored column(s) % of captured table % away', v_gone, v_name
        USING ERRCODE = 'PF006', HINT = 'Remove the table from capture first, or keep those columns.';
    END IF;
    table_name := v_name;
    previous_name := ct.ct_table_name;
    columns_before := ARRAY(SELECT c FROM pg_catalog.unnest(ct.ct_columns) AS c WHERE NOT c = ANY (ct.ct_ignore_columns));
    columns_after := ARRAY(SELECT c FROM pg_catalog.unnest(v_cols.names) AS c WHERE NOT c = ANY (ct.ct_ignore_columns));
    UPDATE pgferry.capture_table
       SET ct_columns = v_cols.names, ct_attnums = v_cols.attnums, ct_types = v_cols.types, ct_table_name = v_name
     WHERE ct_id = ct.ct_id RETURNING * INTO ct;
    PERFORM pgferry._capture_install(ct);
    RETURN NEXT;
  END LOOP;
  DELETE FROM pgferry.capture_ddl_open WHERE cdo_queue = q.queue_id AND cdo_txid = pg_catalog.pg_current_xact_id();
END $$;
