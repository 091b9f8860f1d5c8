-- Capture a table's writes (INSERT, UPDATE, DELETE, TRUNCATE) into a queue. The key is the
-- primary key unless i_key_columns names one (a table without a primary key needs it);
-- i_ignore_columns are left out of row images; i_filter is an SQL condition over the row's
-- columns (only matching rows are captured; the row is "r"); i_mode is 'statement'
-- (transition tables: one trigger call per statement) or 'row'. Adding a table captured
-- already with the same options returns its row unchanged; with other options it is an error.
--
-- Run it as the owner of schema pgferry (or a superuser), with TRIGGER on the table. The
-- table's name is resolved with the caller's search_path; everything else runs with a
-- pinned one (the filter too, as it will in the trigger).
CREATE OR REPLACE FUNCTION pgferry.capture_add_table(
  i_queue_name text, i_table text, i_key_columns text[] DEFAULT NULL,
  i_ignore_columns text[] DEFAULT NULL, i_filter text DEFAULT NULL, i_mode text DEFAULT 'statement')
RETURNS pgferry.capture_table LANGUAGE plpgsql AS $$
DECLARE
  v_oid oid := pg_catalog.to_regclass(i_table);
BEGIN
  IF v_oid IS NULL THEN
    RAISE EXCEPTION 'table "%" does not exist', i_table USING ERRCODE = 'PF003';
  END IF;
  RETURN pgferry._capture_add_table(i_queue_name, v_oid, i_key_columns, i_ignore_columns, i_filter, i_mode);
END $$;

CREATE OR REPLACE FUNCTION pgferry._capture_add_table(
  i_queue_name text, i_oid oid, i_key_columns text[], i_ignore_columns text[], i_filter text, i_mode text)
RETURNS pgferry.capture_table LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  ct pgferry.capture_table;
  v_name text;
  v_kind char;
  v_keys text[];
  v_ignore text[] := coalesce(i_ignore_columns, '{}');
  v_bad text;
  v_op text;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF i_mode IS NULL OR i_mode NOT IN ('statement', 'row') THEN
    RAISE EXCEPTION 'invalid capture mode: %', coalesce(i_mode, 'NULL')
      USING ERRCODE = 'PF003', HINT = 'Use ''statement'' or ''row''.';
  END IF;
  SELECT c.relkind, format('%I.%I', n.nspname, c.relname) INTO v_kind, v_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = i_oid;
  IF v_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '"%" is not a table', v_name USING ERRCODE = 'PF003';
  END IF;
  IF (SELECT relnamespace FROM pg_class WHERE oid = i_oid) = 'pgferry'::regnamespace THEN
    RAISE EXCEPTION 'table % belongs to pgferry and cannot be captured', v_name
      USING ERRCODE = 'PF003', HINT = 'Capturing pgferry''s own tables would capture its own events.';
  END IF;

  IF i_key_columns IS NULL OR cardinality(i_key_columns) = 0 THEN
    SELECT array_agg(a.attname::text ORDER BY k.o) INTO v_keys
      FROM pg_index i
      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = i_oid AND i.indisprimary;
    IF v_keys IS NULL THEN
      RAISE EXCEPTION 'table % has no primary key', v_name
        USING ERRCODE = 'PF003',
              HINT = 'Add a primary key, or name the columns that identify a row (key columns).';
    END IF;
  ELSE
    v_keys := i_key_columns;
  END IF;

  SELECT string_agg(quote_ident(c), ', ') INTO v_bad FROM unnest(v_keys || v_ignore) AS c
   WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i_oid AND a.attname = c
                        AND a.attnum > 0 AND NOT a.attisdropped);
  IF v_bad IS NOT NULL THEN
    RAISE EXCEPTION 'table % has no column(s) %', v_name, v_bad USING ERRCODE = 'PF003';
  END IF;
  IF v_keys && v_ignore THEN
    RAISE EXCEPTION 'key columns of % cannot be ignored', v_name USING ERRCODE = 'PF003';
  END IF;
  IF i_filter IS NOT NULL THEN
    BEGIN
      EXECUTE format('SELECT 1 FROM %s AS r WHERE (%s) LIMIT 0', v_name, i_filter);
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'invalid capture filter for %: %', v_name, SQLERRM
        USING ERRCODE = 'PF003', HINT = 'Write it over the row''s columns, with schema-qualified functions.';
    END;
  END IF;

  -- Serialize with other writers of this table's capture config.
  PERFORM pg_advisory_xact_lock(hashtext('pgferry.capture'), i_oid::int);
  SELECT * INTO ct FROM pgferry.capture_table WHERE ct_queue = q.queue_id AND ct_table_oid = i_oid;
  IF FOUND THEN
    IF ct.ct_key_columns = v_keys AND ct.ct_ignore_columns = v_ignore
       AND ct.ct_filter IS NOT DISTINCT FROM i_filter AND ct.ct_mode = i_mode THEN
      RETURN ct;
    END IF;
    RAISE EXCEPTION 'table % is captured into queue "%" already, with other options', v_name, i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Remove it with pgferry.capture_remove_table() first.';
  END IF;

  INSERT INTO pgferry.capture_table (ct_queue, ct_table_oid, ct_table_name, ct_key_columns,
                                     ct_ignore_columns, ct_filter, ct_mode, ct_columns, ct_attnums, ct_types)
  SELECT q.queue_id, i_oid, v_name, v_keys, v_ignore, i_filter, i_mode, c.names, c.attnums, c.types
    FROM pgferry._capture_columns(i_oid) AS c
  RETURNING * INTO ct;
  PERFORM pgferry._capture_install(ct);
  -- Its row events are applied to replicas: from now on only capture triggers and
  -- pgferry_admin may put events into this queue (insert_event refuses writers, PF007).
  UPDATE pgferry.queue SET queue_capture_only = true WHERE queue_id = q.queue_id AND NOT queue_capture_only;

  IF i_mode = 'statement' THEN
    EXECUTE format('CREATE TRIGGER pgferry_capture_%s_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS pgferry_new'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION pgferry._capture_%s_ins()', ct.ct_id, v_name, ct.ct_id);
    EXECUTE format('CREATE TRIGGER pgferry_capture_%s_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgferry_old'
                   ' NEW TABLE AS pgferry_new FOR EACH STATEMENT EXECUTE FUNCTION pgferry._capture_%s_upd()',
                   ct.ct_id, v_name, ct.ct_id);
    EXECUTE format('CREATE TRIGGER pgferry_capture_%s_del AFTER DELETE ON %s REFERENCING OLD TABLE AS pgferry_old'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION pgferry._capture_%s_del()', ct.ct_id, v_name, ct.ct_id);
  ELSE
    FOREACH v_op IN ARRAY ARRAY['ins', 'upd', 'del'] LOOP
      EXECUTE format('CREATE TRIGGER pgferry_capture_%s_%s AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION pgferry._capture_%s_%s()',
                     ct.ct_id, v_op, CASE v_op WHEN 'ins' THEN 'INSERT' WHEN 'upd' THEN 'UPDATE' ELSE 'DELETE' END,
                     v_name, ct.ct_id, v_op);
    END LOOP;
  END IF;
  EXECUTE format('CREATE TRIGGER pgferry_capture_%s_trunc AFTER TRUNCATE ON %s'
                 ' FOR EACH STATEMENT EXECUTE FUNCTION pgferry._capture_%s_trunc()', ct.ct_id, v_name, ct.ct_id);
  RETURN ct;
END $$;
