-- DDL on captured tables followed as it happens (PostgreSQL event triggers), where the
-- installing role may create event triggers (a superuser, or a platform's equivalent).
--
-- At the end of every ALTER TABLE on a captured table (ddl_command_end), capture is taken
-- as the table now is: its name, its columns (told apart by attnum: a renamed column keeps
-- it, a dropped and re-added one does not) and their types; the trigger functions are
-- regenerated in the same transaction, and one event of type DDL goes into the queue, at
-- that point between the transaction's changes, saying what changed in terms a subscriber
-- can apply to its own copy (whatever its name there, whichever columns it takes):
--   {"table": name now, "previous": name before, "columnsBefore": [...], "columnsAfter": [...],
--    "keys": key columns now,
--    "ops": [{"op": "drop", "column"}, {"op": "rename", "from", "to"},
--            {"op": "type", "column", "type", "collation"},
--            {"op": "add", "column", "type", "collation", "notNull", "default", "value"}]}
-- ("value": the text form every row that was there got, when not NULL; "default": the
-- column's default expression). Refused, with nothing left: a key column dropped, an added
-- column whose existing rows got different values (a volatile default, identity, a
-- generated column: those values are not in the stream), a capture filter the DDL breaks,
-- and (sql_drop) a captured table dropped. Ignored columns are followed, never sent.
--
-- Changes made by the replicator's apply session (pgferry.replica) are followed without an
-- event (a branch passes its provider's event down), and tables of the queue under
-- capture_ddl_begin (an execute) are left to capture_ddl_end.
--
-- Without the event triggers, capture keeps guard views (see _capture_install) and DDL
-- reaches subscribers through `pgferry replicate execute`.

-- The live columns of table i_oid: names, attnums and types (format_type under this
-- function's search_path: a type outside pg_catalog is schema-qualified).
CREATE OR REPLACE FUNCTION pgferry._capture_columns(i_oid oid, OUT names text[], OUT attnums int2[], OUT types text[])
RETURNS record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT array_agg(attname::text ORDER BY attnum), array_agg(attnum ORDER BY attnum),
         array_agg(format_type(atttypid, atttypmod) ORDER BY attnum)
    FROM pg_attribute WHERE attrelid = i_oid AND attnum > 0 AND NOT attisdropped
$$;

-- Are DDL changes of captured tables followed (both event triggers there and enabled)?
CREATE OR REPLACE FUNCTION pgferry._capture_ddl_followed()
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT count(*) = 2 FROM pg_event_trigger
   WHERE evtname IN ('pgferry_capture_ddl', 'pgferry_capture_drop') AND evtenabled <> 'D'
$$;

-- The text form that every row there was got in column i_attnum of table i_oid, just added
-- (the caller has pinned capture_value_settings); NULL when they all got NULL. Refused when
-- the rows got different values: a subscriber could not make the same.
CREATE OR REPLACE FUNCTION pgferry._capture_added_value(i_oid oid, i_attnum int2, i_table text)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a record;
  v_value text;
  v_mixed boolean := false;
  v_expr text;
BEGIN
  SELECT att.attname, att.atthasmissing, att.atthasdef, att.attidentity, att.attgenerated, t.typtype,
         format_type(att.atttypid, att.atttypmod) AS type
    INTO a FROM pg_attribute att JOIN pg_type t ON t.oid = att.atttypid
   WHERE att.attrelid = i_oid AND att.attnum = i_attnum;
  IF NOT a.atthasmissing AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' AND a.typtype <> 'd' THEN
    RETURN NULL;  -- no default of any kind: every row has NULL
  END IF;
  v_expr := 'CASE WHEN pgferry_v IS NOT NULL THEN pg_catalog.concat(pgferry_v) END';
  IF a.atthasmissing THEN
    -- PostgreSQL evaluated the default once and keeps it for the rows that were there.
    EXECUTE format('SELECT %s FROM (SELECT (attmissingval::pg_catalog.text::%s[])[1] AS pgferry_v'
                   ' FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attnum = $2) AS m', v_expr, a.type)
      INTO v_value USING i_oid, i_attnum;
  ELSE
    -- The table was rewritten: read what its rows got (the first one, then any other).
    IF NOT has_table_privilege(i_oid, 'SELECT') THEN
      RAISE EXCEPTION 'column % added to captured table % got its values in a rewrite, and % may not read the table to check them',
                      quote_ident(a.attname), i_table, current_user
        USING ERRCODE = 'PF006', HINT = format('GRANT SELECT ON %s TO %I, or add the column with a constant default.', i_table, current_user);
    END IF;
    EXECUTE format('SELECT %s FROM (SELECT %I AS pgferry_v FROM %s LIMIT 1) AS r', v_expr, a.attname, i_oid::regclass)
      INTO v_value;
    EXECUTE format('SELECT EXISTS (SELECT FROM (SELECT %I AS pgferry_v FROM %s) AS r WHERE (%s) IS DISTINCT FROM $1)',
                   a.attname, i_oid::regclass, v_expr)
      INTO v_mixed USING v_value;
  END IF;
  IF v_mixed THEN
    RAISE EXCEPTION 'column % added to captured table % gave its existing rows different values, which cannot be replicated',
                    quote_ident(a.attname), i_table
      USING ERRCODE = 'PF006',
            HINT = 'Add the column without a default (or with a constant one), fill it with UPDATE (captured), then set its default.';
  END IF;
  RETURN v_value;
END $$;

-- Take captured table ct as it is now (see the top of this file); with i_emit, the DDL
-- event goes into its queue.
CREATE OR REPLACE FUNCTION pgferry._capture_follow(ct pgferry.capture_table, i_emit boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cur record;
  q pgferry.queue;
  v_txid xid8;
  v_name text;
  v_previous text := ct.ct_table_name;
  v_bad text;
  v_keys text[];
  v_ignore text[];
  v_ops jsonb;
  v_before text[];
  v_changes jsonb;
  s record;
  v_saved text[] := '{}';
BEGIN
  SELECT format('%I.%I', n.nspname, c.relname) INTO v_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ct.ct_table_oid;
  SELECT * INTO cur FROM pgferry._capture_columns(ct.ct_table_oid);
  IF v_name IS NOT DISTINCT FROM ct.ct_table_name AND cur.names IS NOT DISTINCT FROM ct.ct_columns
     AND cur.attnums IS NOT DISTINCT FROM ct.ct_attnums AND cur.types IS NOT DISTINCT FROM ct.ct_types THEN
    RETURN;
  END IF;
  v_before := ARRAY(SELECT c FROM unnest(ct.ct_columns) AS c WHERE NOT c = ANY (ct.ct_ignore_columns));

  -- Old and new columns paired by attnum.
  SELECT jsonb_agg(jsonb_build_object('num', coalesce(n.num, o.num), 'old_name', o.name, 'new_name', n.name,
                                      'old_type', o.type, 'new_type', n.type,
                                      'ignored', coalesce(o.name = ANY (ct.ct_ignore_columns), false)))
    INTO v_changes
    FROM unnest(ct.ct_columns, ct.ct_attnums, ct.ct_types) AS o(name, num, type)
    FULL JOIN unnest(cur.names, cur.attnums, cur.types) AS n(name, num, type) ON n.num = o.num;

  SELECT string_agg(quote_ident(old_name), ', ') INTO v_bad
    FROM jsonb_to_recordset(v_changes) AS ch(old_name text, new_name text)
   WHERE new_name IS NULL AND old_name = ANY (ct.ct_key_columns);
  IF v_bad IS NOT NULL THEN
    RAISE EXCEPTION 'the DDL drops key column(s) % of captured table %', v_bad, v_name
      USING ERRCODE = 'PF006', HINT = 'Remove the table from capture (and from its subscriptions) first, or keep its key.';
  END IF;
  v_keys := ARRAY(SELECT ch.new_name FROM unnest(ct.ct_key_columns) WITH ORDINALITY AS k(name, o)
                    JOIN jsonb_to_recordset(v_changes) AS ch(old_name text, new_name text) ON ch.old_name = k.name
                   ORDER BY k.o);
  v_ignore := ARRAY(SELECT ch.new_name FROM jsonb_to_recordset(v_changes) AS ch(num int2, new_name text, ignored boolean)
                     WHERE ch.ignored AND ch.new_name IS NOT NULL ORDER BY ch.num);
  -- A type change's values come from a cast on the subscriber: one the provider made with
  -- its own expression (USING) would differ there, and is left to execute. (The statement's
  -- text is all an event trigger has: a USING anywhere in it refuses, on the safe side.)
  IF EXISTS (SELECT FROM jsonb_to_recordset(v_changes) AS ch(old_type text, new_type text, ignored boolean)
              WHERE ch.old_type <> ch.new_type AND NOT ch.ignored)
     AND current_query() ~* '\musing\M' THEN
    RAISE EXCEPTION 'a column type of captured table % was changed with USING, which subscribers cannot repeat', v_name
      USING ERRCODE = 'PF006', HINT = 'Run the change through pgferry replicate execute (every subscriber runs the same statement).';
  END IF;

  -- Values and default expressions in the text forms a subscriber's apply reads back.
  FOR s IN SELECT * FROM pgferry.capture_value_settings() LOOP
    v_saved := v_saved || ARRAY[s.name, current_setting(s.name)];
    PERFORM set_config(s.name, s.setting, true);
  END LOOP;
  SELECT coalesce(jsonb_agg(op ORDER BY k, num), '[]') INTO v_ops FROM (
    SELECT 1 AS k, ch.num, jsonb_build_object('op', 'drop', 'column', ch.old_name) AS op
      FROM jsonb_to_recordset(v_changes) AS ch(num int2, old_name text, new_name text, ignored boolean)
     WHERE ch.new_name IS NULL AND NOT ch.ignored
    UNION ALL
    SELECT 2, ch.num, jsonb_build_object('op', 'rename', 'from', ch.old_name, 'to', ch.new_name)
      FROM jsonb_to_recordset(v_changes) AS ch(num int2, old_name text, new_name text, ignored boolean)
     WHERE ch.old_name <> ch.new_name AND NOT ch.ignored
    UNION ALL
    SELECT 3, ch.num, jsonb_build_object('op', 'type', 'column', ch.new_name, 'type', ch.new_type,
                                         'collation', pgferry._capture_column_collation(ct.ct_table_oid, ch.num))
      FROM jsonb_to_recordset(v_changes) AS ch(num int2, new_name text, old_type text, new_type text, ignored boolean)
     WHERE ch.old_type <> ch.new_type AND NOT ch.ignored
    UNION ALL
    SELECT 4, ch.num, jsonb_build_object(
             'op', 'add', 'column', ch.new_name, 'type', ch.new_type,
             'collation', pgferry._capture_column_collation(ct.ct_table_oid, ch.num),
             'notNull', a.attnotnull,
             'default', CASE WHEN a.attidentity = '' AND a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
             'value', pgferry._capture_added_value(ct.ct_table_oid, ch.num, v_name))
      FROM jsonb_to_recordset(v_changes) AS ch(num int2, old_name text, new_name text, new_type text)
      JOIN pg_attribute a ON a.attrelid = ct.ct_table_oid AND a.attnum = ch.num
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE ch.old_name IS NULL) AS ops;
  FOR i IN 1 .. coalesce(array_length(v_saved, 1), 0) BY 2 LOOP
    PERFORM set_config(v_saved[i], v_saved[i + 1], true);
  END LOOP;

  UPDATE pgferry.capture_table
     SET ct_table_name = v_name, ct_columns = cur.names, ct_attnums = cur.attnums, ct_types = cur.types,
         ct_key_columns = v_keys, ct_ignore_columns = v_ignore
   WHERE ct_id = ct.ct_id RETURNING * INTO ct;
  IF ct.ct_filter IS NOT NULL THEN
    BEGIN
      EXECUTE format('SELECT 1 FROM %s AS r WHERE (%s) LIMIT 0', v_name, ct.ct_filter);
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'the DDL breaks the capture filter of %: %', v_name, SQLERRM
        USING ERRCODE = 'PF006', HINT = 'Remove the table from capture and add it again with a filter over its new columns.';
    END;
  END IF;
  PERFORM pgferry._capture_install(ct);
  IF NOT i_emit THEN
    RETURN;
  END IF;
  -- As insert_event: the txid before the queue row.
  v_txid := pg_current_xact_id();
  SELECT * INTO q FROM pgferry.queue WHERE queue_id = ct.ct_queue;
  IF q.queue_disable_insert THEN
    RAISE EXCEPTION 'inserts into the queue of captured table % are disabled', v_name USING ERRCODE = 'PF006';
  END IF;
  INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data, ev_extra1)
  VALUES (q.queue_id, q.queue_cur_table, nextval(q.queue_event_seq), now(), v_txid, 'DDL',
          jsonb_build_object('table', v_name, 'previous', v_previous, 'columnsBefore', v_before,
                             'columnsAfter', ARRAY(SELECT c FROM unnest(ct.ct_columns) AS c WHERE NOT c = ANY (ct.ct_ignore_columns)),
                             'keys', v_keys, 'ops', v_ops)::text,
          v_previous);
END $$;

-- A column's collation when it is not its type's default, as a qualified name.
CREATE OR REPLACE FUNCTION pgferry._capture_column_collation(i_oid oid, i_attnum int2)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('%I.%I', n.nspname, co.collname)
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_collation co ON co.oid = a.attcollation JOIN pg_namespace n ON n.oid = co.collnamespace
   WHERE a.attrelid = i_oid AND a.attnum = i_attnum AND a.attcollation <> t.typcollation
$$;

-- ddl_command_end of ALTER TABLE: follow the captured tables it changed.
CREATE OR REPLACE FUNCTION pgferry._capture_ddl_command_end()
RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  ct pgferry.capture_table;
  v_emit boolean := NOT (coalesce(current_setting('pgferry.replica', true), '') = 'on' AND pgferry._capture_skip_allowed());
BEGIN
  FOR ct IN SELECT c.* FROM pgferry.capture_table c
             WHERE c.ct_table_oid IN (SELECT objid FROM pg_event_trigger_ddl_commands()
                                       WHERE classid = 'pg_catalog.pg_class'::regclass)
               AND NOT EXISTS (SELECT FROM pgferry.capture_ddl_open o
                                WHERE o.cdo_queue = c.ct_queue AND o.cdo_txid = pg_current_xact_id())
             ORDER BY c.ct_id LOOP
    PERFORM pgferry._capture_follow(ct, v_emit);
  END LOOP;
END $$;

-- sql_drop: a captured table is not dropped (its subscribers would never hear of it).
CREATE OR REPLACE FUNCTION pgferry._capture_ddl_sql_drop()
RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_names text;
BEGIN
  IF to_regclass('pgferry.capture_table') IS NULL THEN
    RETURN;  -- pgferry itself is being dropped
  END IF;
  SELECT string_agg(format('%s (queue "%s")', ct.ct_table_name, q.queue_name), ', ') INTO v_names
    FROM pg_event_trigger_dropped_objects() d
    JOIN pgferry.capture_table ct ON ct.ct_table_oid = d.objid
    JOIN pgferry.queue q ON q.queue_id = ct.ct_queue
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0;
  IF v_names IS NOT NULL THEN
    RAISE EXCEPTION 'captured table(s) % cannot be dropped', v_names
      USING ERRCODE = 'PF006', HINT = 'Remove it from capture (and from its subscriptions) first: pgferry.capture_remove_table(queue, table).';
  END IF;
END $$;

-- Captured tables whose name, columns or types changed outside capture (DDL while nothing
-- followed it): turning following on would take those changes as if they had just been
-- made, and the values written in between would not be in the stream.
CREATE OR REPLACE FUNCTION pgferry._capture_unfollowed()
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(ct.ct_table_name, ', ' ORDER BY ct.ct_table_name)
    FROM pgferry.capture_table ct
    JOIN pg_class c ON c.oid = ct.ct_table_oid JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL pgferry._capture_columns(ct.ct_table_oid) AS cur
   WHERE format('%I.%I', n.nspname, c.relname) <> ct.ct_table_name OR cur.names IS DISTINCT FROM ct.ct_columns
      OR cur.attnums IS DISTINCT FROM ct.ct_attnums OR cur.types IS DISTINCT FROM ct.ct_types
$$;

CREATE OR REPLACE FUNCTION pgferry._capture_ddl_triggers_create()
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DROP EVENT TRIGGER IF EXISTS pgferry_capture_ddl;
  DROP EVENT TRIGGER IF EXISTS pgferry_capture_drop;
  CREATE EVENT TRIGGER pgferry_capture_ddl ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION pgferry._capture_ddl_command_end();
  CREATE EVENT TRIGGER pgferry_capture_drop ON sql_drop WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION pgferry._capture_ddl_sql_drop();
END $$;

-- Follow DDL on captured tables automatically (i_on), or leave it to execute (guard views
-- keep columns from being dropped or retyped). Turning it on needs a role that may create
-- event triggers; the choice is kept across installs.
CREATE OR REPLACE FUNCTION pgferry.capture_ddl_follow(i_on boolean)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_changed text := CASE WHEN i_on AND NOT pgferry._capture_ddl_followed() THEN pgferry._capture_unfollowed() END;
BEGIN
  IF v_changed IS NOT NULL THEN
    RAISE EXCEPTION 'captured table(s) % changed while DDL was not followed', v_changed
      USING ERRCODE = 'PF006',
            HINT = 'Put each change into the stream with pgferry replicate execute (written to be a no-op where it is done), then turn following on.';
  END IF;
  IF i_on THEN
    BEGIN
      PERFORM pgferry._capture_ddl_triggers_create();
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'role % may not create event triggers: DDL on captured tables cannot be followed automatically', current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A superuser (or the platform''s equivalent) can run SELECT pgferry.capture_ddl_follow(true); without it, run DDL through pgferry replicate execute.';
    END;
  ELSE
    DROP EVENT TRIGGER IF EXISTS pgferry_capture_ddl;
    DROP EVENT TRIGGER IF EXISTS pgferry_capture_drop;
  END IF;
  UPDATE pgferry.capture_ddl_setting SET follow = i_on;
  PERFORM pgferry._capture_refresh();  -- guard views go, or come back
  RETURN i_on;
END $$;

-- At install: follow DDL unless someone chose not to, where this role may.
CREATE OR REPLACE FUNCTION pgferry._capture_ddl_install()
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_changed text;
BEGIN
  IF (SELECT follow FROM pgferry.capture_ddl_setting) IS DISTINCT FROM false AND NOT pgferry._capture_ddl_followed() THEN
    v_changed := pgferry._capture_unfollowed();
    IF v_changed IS NOT NULL THEN
      RAISE NOTICE 'pgferry: DDL on captured tables is not followed: % changed outside capture (see pgferry.capture_ddl_follow)', v_changed;
      RETURN false;
    END IF;
    BEGIN
      PERFORM pgferry._capture_ddl_triggers_create();
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'pgferry: role % may not create event triggers; DDL on captured tables reaches subscribers through execute', current_user;
    END;
  END IF;
  RETURN pgferry._capture_ddl_followed();
END $$;
