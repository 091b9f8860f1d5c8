-- The source of one generated capture trigger function (i_op: ins, upd, del, trunc) for a
-- captured table. Everything the function needs (queue id, table name, columns, key,
-- filter) is baked in as literals, so its one INSERT ... SELECT is static and its plan cached.
--
-- Statement mode reads the statement's transition tables; row mode reads the one row
-- (SELECT NEW.*) through the same statement. An UPDATE is the full join of old and new
-- rows on the key: a row whose key changed becomes a delete of the old key and an insert
-- of the new one, a row that leaves the filter a delete, one that enters it an insert, and
-- a row whose captured image did not change is not captured at all.
--
-- Events: ev_type I/U/D/T, ev_data the row image, ev_extra1 the table name, ev_extra2 the
-- key. The image is a JSON object of column name -> the value's text form (its type's
-- output; or null), ignored columns left out; the key a JSON array of the key values' text
-- forms. Text forms, not JSON
-- values: JSON loses information (json 'null' vs NULL, array bounds, ...), while a type's
-- text form reads back into exactly the same value. Text forms depend on session settings,
-- so the function pins them (pgferry.capture_value_settings()), whatever the writer set:
-- where a column's type (or the filter) could depend on one. A table of only integers,
-- text, numerics, ... (see _capture_settings_free) needs none, and each pinned setting is
-- paid at every call (6 settings: 10 us of a 140 us single-row UPDATE).
--
-- Safe by construction: the function is SECURITY DEFINER with a pinned search_path (a
-- writer needs no pgferry grant, and can neither forge events for another table nor reach
-- the queue tables), and no user name can shadow one of its own:
--  - columns are read by position, through aliases pgferry_1 .. pgferry_n of the columns as
--    they were when capture began (ct_columns; the guard view of _capture_install keeps them
--    from being dropped or retyped underneath), and images keep those names: a renamed
--    column keeps working, under its old name in events;
--  - the filter is evaluated alone on the row (alias r), where only the row's columns are;
--    everything else sees only pgferry_N (or j and k), and with #variable_conflict use_column
--    the function's variables lose against any column of the same name in the filter;
--  - images are a ROW(...) of a composite type of the captured names (capture_N_image), one
--    flat statement per operation: no subquery or LATERAL join costs a single-row write.
CREATE OR REPLACE FUNCTION pgferry._capture_trigger_sql(ct pgferry.capture_table, i_op text)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  v_aliases text;  -- pgferry_1, ..., pgferry_n: the columns as captured, ignored ones too
  v_image   text;  -- the captured columns' text forms as a JSON object (pgferry.capture_N_image)
  v_key     text;
  v_missing text;
  v_pinned  boolean;  -- the value settings are pinned (see _capture_settings_free)
  v_name    text := quote_literal(ct.ct_table_name);
  -- The variables are read where only pgferry_r's pgferry_N columns (or j and k) are in scope.
  v_insert  text := 'INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data, ev_extra1, ev_extra2)'
                    ' SELECT pgferry_queue, pgferry_tbl, pg_catalog.nextval(pgferry_seq), pg_catalog.now(), pgferry_txid, ';
  v_stmt    text;
BEGIN
  -- The columns as captured (ct_columns, by position) against the table now. A value's text
  -- form is its type's output function, which a cast to text is too unless the type has a
  -- cast function to text (character(n)'s drops trailing spaces; an extension's may print
  -- anything): those are printed through concat(), which calls the output function.
  WITH cols AS (
    SELECT c.name, c.o, a.atttypid IS NOT NULL AS present, pgferry._capture_settings_free(a.atttypid) AS settings_free,
           EXISTS (SELECT FROM pg_cast WHERE castsource = pgferry._capture_base_type(a.atttypid)
                      AND casttarget = 'text'::regtype AND castmethod = 'f') AS via_output
      FROM unnest(ct.ct_columns) WITH ORDINALITY AS c(name, o)
      LEFT JOIN (SELECT atttypid, row_number() OVER (ORDER BY attnum) AS o
                   FROM pg_attribute WHERE attrelid = ct.ct_table_oid AND attnum > 0 AND NOT attisdropped) a USING (o))
  SELECT string_agg(format('pgferry_%s', o), ', ' ORDER BY o),
         format('pg_catalog.row_to_json(ROW(%s)::pgferry.capture_%s_image)::text',
                string_agg(CASE WHEN via_output
                                THEN format('CASE WHEN pgferry_r.pgferry_%s IS NOT NULL THEN pg_catalog.concat(pgferry_r.pgferry_%s) END', o, o)
                                ELSE format('pgferry_r.pgferry_%s::text', o) END, ', ' ORDER BY o)
                  FILTER (WHERE NOT name = ANY (ct.ct_ignore_columns)),
                ct.ct_id),
         (SELECT 'pg_catalog.json_build_array(' || string_agg(format('pgferry_r.pgferry_%s::text', c.o), ', ' ORDER BY u.k) || ')::text'
            FROM unnest(ct.ct_key_columns) WITH ORDINALITY AS u(name, k) JOIN cols c USING (name)),
         string_agg(quote_ident(name), ', ') FILTER (WHERE NOT present),
         i_op <> 'trunc' AND (ct.ct_filter IS NOT NULL OR NOT bool_and(coalesce(settings_free, false)))
    INTO v_aliases, v_image, v_key, v_missing, v_pinned
    FROM cols;
  IF v_missing IS NOT NULL THEN
    RAISE EXCEPTION 'captured table % has lost column(s) %', ct.ct_table_name, v_missing
      USING ERRCODE = 'PF006', HINT = 'Remove the table from capture and add it again.';
  END IF;

  IF i_op IN ('ins', 'del') THEN
    v_stmt := v_insert || format('%L, %s, %s, %s FROM %s',
      CASE i_op WHEN 'ins' THEN 'I' ELSE 'D' END, v_image, v_name, v_key,
      pgferry._capture_from_sql(pgferry._capture_source(ct, CASE i_op WHEN 'ins' THEN 'NEW' ELSE 'OLD' END), ct.ct_filter, v_aliases));
  ELSIF i_op = 'upd' THEN
    -- OFFSET 0 keeps each side a subquery: pulled up into the join, its image and key were
    -- computed again for the join, the filter and the output (a captured 200,000-row
    -- UPDATE, median of 3: 2.96 s -> 2.49 s; 0.79 s without capture).
    v_stmt := v_insert || format(
      'CASE WHEN o.k IS NULL THEN ''I'' WHEN n.k IS NULL THEN ''D'' ELSE ''U'' END,'
      ' coalesce(n.j, o.j), %s, coalesce(n.k, o.k)'
      ' FROM (SELECT %s AS j, %s AS k FROM %s OFFSET 0) AS o FULL JOIN (SELECT %s AS j, %s AS k FROM %s OFFSET 0) AS n ON n.k = o.k'
      ' WHERE o.k IS NULL OR n.k IS NULL OR n.j IS DISTINCT FROM o.j',
      v_name, v_image, v_key, pgferry._capture_from_sql(pgferry._capture_source(ct, 'OLD'), ct.ct_filter, v_aliases),
      v_image, v_key, pgferry._capture_from_sql(pgferry._capture_source(ct, 'NEW'), ct.ct_filter, v_aliases));
  ELSIF i_op = 'trunc' THEN
    v_stmt := v_insert || format('''T'', NULL, %s, NULL', v_name);
  ELSE
    RAISE EXCEPTION 'unknown capture operation %', i_op USING ERRCODE = 'PF003';
  END IF;

  -- The txid is taken before the queue row is read (see insert_event). Changes made by the
  -- replicator (SET pgferry.replica = on, honoured for pgferry_replicator's members only)
  -- are not captured again: no superuser needed. Two IFs, not one AND: where the setting
  -- is unset it reads NULL, and NULL AND x needs x, so one AND asked every writer's
  -- statement who it is (a catalog lookup: 16 us a statement under TPC-B).
  RETURN format($f$CREATE OR REPLACE FUNCTION pgferry._capture_%s_%s() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp %s AS $pgferry_fn$
#variable_conflict use_column
DECLARE
  pgferry_queue int := %s;
  pgferry_txid xid8;
  pgferry_tbl int;
  pgferry_seq regclass;
  pgferry_disabled boolean;
BEGIN
  IF pg_catalog.current_setting('pgferry.replica', true) = 'on' THEN
    IF pgferry._capture_skip_allowed() THEN
      RETURN NULL;
    END IF;
  END IF;
  pgferry_txid := pg_catalog.pg_current_xact_id();
  SELECT q.queue_cur_table, q.queue_event_seq, q.queue_disable_insert
    INTO pgferry_tbl, pgferry_seq, pgferry_disabled
    FROM pgferry.queue AS q WHERE q.queue_id = pgferry_queue;
  IF pgferry_disabled THEN
    RAISE EXCEPTION 'inserts into the queue of captured table %% are disabled', %s USING ERRCODE = 'PF006';
  END IF;
  %s;
  RETURN NULL;
END $pgferry_fn$ $f$, ct.ct_id, i_op,
    (SELECT string_agg(format('SET %s = %L', name, setting), ' ' ORDER BY name) FROM pgferry.capture_value_settings() WHERE v_pinned),
    ct.ct_queue, v_name, v_stmt);
END $body$;

-- A type, or the type a domain (of domains) is over.
CREATE OR REPLACE FUNCTION pgferry._capture_base_type(i_type oid)
RETURNS oid LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE t(oid, base) AS (
    SELECT oid, typbasetype FROM pg_type WHERE oid = i_type
    UNION ALL
    SELECT p.oid, p.typbasetype FROM t JOIN pg_type p ON p.oid = t.base WHERE t.base <> 0)
  SELECT oid FROM t WHERE base = 0
$$;

-- Whether a type's text form is the same under any session settings: the types below, enums,
-- and arrays and domains of them. Every other type (dates, times, intervals, floats, bytea,
-- money, geometry, ranges, composites, an extension's) is printed under pinned settings.
CREATE OR REPLACE FUNCTION pgferry._capture_settings_free(i_type oid)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE t(oid) AS (
    SELECT i_type
    UNION ALL
    SELECT CASE WHEN p.typtype = 'd' THEN p.typbasetype ELSE p.typelem END
      FROM t JOIN pg_type p ON p.oid = t.oid
     WHERE p.typtype = 'd' OR (p.typcategory = 'A' AND p.typelem <> 0))
  SELECT p.typtype = 'e' OR p.oid = ANY ('{bool,int2,int4,int8,numeric,text,varchar,bpchar,name,"\"char\"",uuid,json,jsonb,oid,inet,cidr,macaddr,macaddr8,bit,varbit}'::regtype[])
    FROM t JOIN pg_type p ON p.oid = t.oid
   WHERE NOT (p.typtype = 'd' OR (p.typcategory = 'A' AND p.typelem <> 0))
$$;

-- The rows of a source (see _capture_source) that pass the filter (on the row "r", with
-- only its own columns in scope), their columns renamed by position. In one format() call:
-- the filter is the user's text and may hold a '%'.
CREATE OR REPLACE FUNCTION pgferry._capture_from_sql(i_source text, i_filter text, i_aliases text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('(SELECT * FROM %s AS r WHERE (%s)) AS pgferry_r (%s)', i_source, coalesce(i_filter, 'true'), i_aliases)
$$;

-- What a capture statement reads: the transition table (statement mode) or the one row.
CREATE OR REPLACE FUNCTION pgferry._capture_source(ct pgferry.capture_table, i_which text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN ct.ct_mode = 'row' THEN format('(SELECT %s.*)', i_which)
              ELSE 'pgferry_' || lower(i_which) END
$$;
