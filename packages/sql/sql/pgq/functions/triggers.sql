-- PGQ's row-change triggers with their arguments and event formats, in PL/pgSQL:
--
--   CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON tbl
--     FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('queue' [, option ...]);
--
--   logutriga  ev_type 'I:pk1,pk2' (U:, D:), ev_data urlencoded "col=value&col2" (NULL: the
--              name alone), TRUNCATE: ev_type 'R', ev_data ''
--   jsontriga  ev_type {"op":"INSERT","table":["schema","table"],"pkey":["id"]}, ev_data a JSON
--              object (integers, booleans, dates and timestamps as JSON values, the rest as
--              strings of their text form), TRUNCATE: op "TRUNCATE", ev_data {}
--   sqltriga   ev_type 'I' / 'U' / 'D' (TRUNCATE 'R'), ev_data an SQL fragment:
--              "(a,b) values ('1',null)", "b='2' where a='1'", "a='1'"
--   all        ev_extra1 'schema.table'
--
-- Options: SKIP (a BEFORE trigger then drops the change itself), backup (the old row, in
-- the same format, into ev_extra2 of an UPDATE), deny (refuse every change), ignore=c1,c2
-- (left out of ev_data; an UPDATE that changes only them makes no event), pkey=c1,c2 (instead
-- of the primary key), ev_type=EXPR / ev_extra1..4=EXPR (an SQL expression over the row's
-- columns replaces the field), when=EXPR (no event unless true). Columns named _pgq_ev_type,
-- _pgq_ev_extra1..4 replace those fields and are left out of ev_data. UPDATE or DELETE
-- without a key is refused, as is an UPDATE of a key column. Nothing is queued while
-- session_replication_role is 'local'.
--
-- The triggers run with the writer's rights (events go through pgferry.insert_event: the
-- writer needs pgferry_writer). EXPR options are evaluated with search_path pg_catalog,
-- pg_temp: qualify the names of your own functions.

-- A value urlencoded as PGQ does: [-_.a-zA-Z0-9] as is, a space as "+", every other byte of
-- its UTF-8 form as %xx (lowercase hex).
CREATE OR REPLACE FUNCTION pgq._urlencode(i_value text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(string_agg(
           CASE WHEN x.part[1] ~ '^[-_.a-zA-Z0-9]' THEN x.part[1]
                ELSE replace(regexp_replace(encode(convert_to(x.part[1], 'UTF8'), 'hex'), '(..)', '%\1', 'g'), '%20', '+')
           END, '' ORDER BY x.n), '')
    FROM regexp_matches(i_value, '[-_.a-zA-Z0-9]+|[^-_.a-zA-Z0-9]+', 'g') WITH ORDINALITY AS x(part, n)
$$;

-- The trigger arguments: the queue, the flags, the ignore and key lists (i_pkey NULL: the
-- primary key) and the field expressions (names ev_type, ev_extra1..4, when).
CREATE OR REPLACE FUNCTION pgq._triga_args(i_args text[],
  OUT queue_name text, OUT skip boolean, OUT backup boolean, OUT deny boolean,
  OUT ignore_cols text[], OUT pkey_cols text[], OUT field_names text[], OUT field_exprs text[])
RETURNS record LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_arg text;
  v_key text;
  v_val text;
BEGIN
  i_args := ARRAY(SELECT unnest(i_args));  -- TG_ARGV counts from 0
  IF coalesce(cardinality(i_args), 0) < 1 THEN
    RAISE EXCEPTION 'Trigger needs queue name' USING ERRCODE = 'PF003';
  END IF;
  queue_name := i_args[1];
  skip := false; backup := false; deny := false;
  ignore_cols := '{}'; field_names := '{}'; field_exprs := '{}';
  FOREACH v_arg IN ARRAY i_args[2:] LOOP
    IF v_arg IN ('SKIP', 'skip') THEN
      skip := true;
    ELSIF v_arg = 'backup' THEN
      backup := true;
    ELSIF v_arg = 'deny' THEN
      deny := true;
    ELSIF strpos(v_arg, '=') > 1 THEN
      v_key := split_part(v_arg, '=', 1);
      v_val := substr(v_arg, length(v_key) + 2);
      IF v_key = 'ignore' THEN
        ignore_cols := string_to_array(v_val, ',');
      ELSIF v_key = 'pkey' THEN
        pkey_cols := string_to_array(v_val, ',');
      ELSIF v_key ~ '^(ev_type|ev_extra[1-4]|when)$' THEN
        field_names := field_names || v_key;
        field_exprs := field_exprs || v_val;
      ELSE
        RAISE EXCEPTION 'bad argument: %', v_arg USING ERRCODE = 'PF003';
      END IF;
    ELSE
      RAISE EXCEPTION 'bad argument: %', v_arg USING ERRCODE = 'PF003';
    END IF;
  END LOOP;
END $$;

-- A column's value as SQL over row alias r: its text form (booleans t/f, as PGQ), or for
-- jsontriga its JSON text.
CREATE OR REPLACE FUNCTION pgq._triga_value_sql(i_col name, i_type oid, i_json boolean)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN i_json AND i_type IN ('int2'::regtype::oid, 'int4'::regtype::oid, 'int8'::regtype::oid, 'bool'::regtype::oid,
                               'date'::regtype::oid, 'timestamp'::regtype::oid, 'timestamptz'::regtype::oid)
      THEN format('coalesce(CAST(pg_catalog.to_json(r.%I) AS pg_catalog.text), ''null'')', i_col)
    WHEN i_json
      THEN format('coalesce(CAST(pg_catalog.to_json(CAST(r.%I AS pg_catalog.text)) AS pg_catalog.text), ''null'')', i_col)
    WHEN i_type = 'bool'::regtype::oid
      THEN format('CASE r.%I WHEN true THEN ''t'' WHEN false THEN ''f'' END', i_col)
    ELSE format('CAST(r.%I AS pg_catalog.text)', i_col)
  END
$$;

-- A row (its record text) as an array of SQL expressions' values over its columns (alias r).
CREATE OR REPLACE FUNCTION pgq._triga_eval(i_rel regclass, i_row text, i_exprs text[])
RETURNS text[] LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_vals text[];
BEGIN
  IF i_row IS NULL OR cardinality(i_exprs) = 0 THEN
    RETURN '{}';
  END IF;
  EXECUTE format('SELECT ARRAY[%s]::pg_catalog.text[] FROM (SELECT (CAST($1 AS %s)).*) r',
                 array_to_string(i_exprs, ', '), i_rel)
     INTO v_vals USING i_row;
  RETURN v_vals;
END $$;

-- The body of the three triggers: builds the event in i_kind's format (logutriga, jsontriga,
-- sqltriga) and inserts it. Rows come as their record text. Returns true when the change
-- itself is to be skipped (the SKIP option).
CREATE OR REPLACE FUNCTION pgq._triga(i_kind text, i_op text, i_level text, i_rel regclass,
                                      i_args text[], i_old text, i_new text)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a record;
  v_json boolean := i_kind = 'jsontriga';
  v_schema text;
  v_table text;
  v_pkey text[];
  v_cols text[];        -- data columns (not ignored, not magic), in table order
  v_types oid[];
  v_magic text[];       -- fields set by _pgq_ev_* columns
  v_magic_cols text[];
  v_all text[];         -- every column, for change checks
  v_all_types oid[];
  o text[]; n text[];   -- every column's text, old and new
  v_main text;          -- the row the fields and expressions read: NEW, or OLD for DELETE
  v_vals text[];
  v_type text;
  v_data text;
  v_backup text;
  v_fields text[] := ARRAY[NULL, NULL, NULL, NULL, NULL];  -- ev_type, ev_extra1..4 overrides
  v_set boolean[] := ARRAY[false, false, false, false, false];
  v_idx int;
BEGIN
  SELECT * INTO a FROM pgq._triga_args(i_args);
  SELECT ns.nspname, c.relname INTO v_schema, v_table
    FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = i_rel;
  IF current_setting('session_replication_role') = 'local' THEN
    RETURN false;
  END IF;
  IF a.deny THEN
    RAISE EXCEPTION 'Table ''%.%'' to queue ''%'': change not allowed (%)', v_schema, v_table, a.queue_name, i_op
      USING ERRCODE = 'PF006';
  END IF;
  v_pkey := coalesce(a.pkey_cols,
                     ARRAY(SELECT att.attname::text
                             FROM pg_index i
                             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
                             JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
                            WHERE i.indrelid = i_rel AND i.indisprimary ORDER BY k.pos));

  IF i_op = 'TRUNCATE' THEN
    PERFORM pgferry.insert_event(a.queue_name,
      CASE WHEN v_json THEN (SELECT row_to_json(t)::text FROM (SELECT i_op AS op, ARRAY[v_schema, v_table] AS "table", v_pkey AS pkey) t)
           ELSE 'R' END,
      CASE WHEN v_json THEN '{}' ELSE '' END,
      v_schema || '.' || v_table, NULL, NULL, NULL);
    RETURN false;
  END IF;
  IF i_level <> 'ROW' THEN
    RAISE EXCEPTION 'pgq.%: only row-level triggers take % events', i_kind, i_op USING ERRCODE = 'PF003';
  END IF;
  IF cardinality(v_pkey) = 0 AND i_op IN ('UPDATE', 'DELETE') THEN
    RAISE EXCEPTION 'Update/Delete on table without pkey' USING ERRCODE = 'PF003';
  END IF;

  SELECT array_agg(att.attname::text ORDER BY att.attnum), array_agg(att.atttypid ORDER BY att.attnum)
    INTO v_all, v_all_types
    FROM pg_attribute att WHERE att.attrelid = i_rel AND att.attnum > 0 AND NOT att.attisdropped;
  SELECT array_agg(c ORDER BY k), array_agg(t ORDER BY k) INTO v_cols, v_types
    FROM unnest(v_all, v_all_types) WITH ORDINALITY AS x(c, t, k)
   WHERE c <> ALL (a.ignore_cols) AND c !~ '^_pgq_ev_(type|extra[1-4])$';
  v_magic_cols := ARRAY(SELECT c FROM unnest(v_all) AS c WHERE c ~ '^_pgq_ev_(type|extra[1-4])$');
  v_cols := coalesce(v_cols, '{}');
  v_types := coalesce(v_types, '{}');

  -- Every column's text (old and new), for the key and ignore checks and sqltriga.
  v_vals := ARRAY(SELECT pgq._triga_value_sql(c, t, false)
                    FROM unnest(v_all, v_all_types) WITH ORDINALITY AS x(c, t, k) ORDER BY k);
  o := pgq._triga_eval(i_rel, i_old, v_vals);
  n := pgq._triga_eval(i_rel, i_new, v_vals);
  IF i_op = 'UPDATE' AND EXISTS (SELECT 1 FROM unnest(v_all) WITH ORDINALITY AS x(c, k)
                                  WHERE c = ANY (v_pkey) AND o[k] IS DISTINCT FROM n[k]) THEN
    RAISE EXCEPTION 'primary key update not allowed' USING ERRCODE = 'PF006';
  END IF;
  -- An UPDATE that changed only ignored columns makes no event.
  IF i_op = 'UPDATE' AND cardinality(a.ignore_cols) > 0
     AND EXISTS (SELECT 1 FROM unnest(v_all) WITH ORDINALITY AS x(c, k)
                  WHERE c = ANY (a.ignore_cols) AND o[k] IS DISTINCT FROM n[k])
     AND NOT EXISTS (SELECT 1 FROM unnest(v_all) WITH ORDINALITY AS x(c, k)
                      WHERE c = ANY (v_cols) AND o[k] IS DISTINCT FROM n[k]) THEN
    RETURN a.skip;
  END IF;

  v_main := CASE WHEN i_op = 'DELETE' THEN i_old ELSE i_new END;
  v_type := CASE i_op WHEN 'INSERT' THEN 'I' WHEN 'UPDATE' THEN 'U' ELSE 'D' END;
  IF i_kind = 'logutriga' THEN
    v_type := v_type || ':' || array_to_string(v_pkey, ',');
    v_data := pgq._triga_urlencoded(v_all, v_cols, CASE WHEN i_op = 'DELETE' THEN o ELSE n END);
    IF a.backup AND i_op = 'UPDATE' THEN
      v_backup := pgq._triga_urlencoded(v_all, v_cols, o);
    END IF;
  ELSIF v_json THEN
    SELECT row_to_json(t)::text INTO v_type
      FROM (SELECT i_op AS op, ARRAY[v_schema, v_table] AS "table", v_pkey AS pkey) t;
    v_vals := ARRAY(SELECT pgq._triga_value_sql(c, t, true) FROM unnest(v_cols, v_types) WITH ORDINALITY AS x(c, t, k) ORDER BY k);
    v_data := pgq._triga_json(v_cols, pgq._triga_eval(i_rel, v_main, v_vals));
    IF a.backup AND i_op = 'UPDATE' THEN
      v_backup := pgq._triga_json(v_cols, pgq._triga_eval(i_rel, i_old, v_vals));
    END IF;
  ELSE
    v_data := pgq._triga_sql(i_op, v_all, v_cols, v_pkey, o, n, CASE WHEN i_op = 'DELETE' THEN o ELSE n END);
    IF a.backup AND i_op = 'UPDATE' THEN
      v_backup := pgq._triga_sql(i_op, v_all, v_cols, v_pkey, o, n, o);
    END IF;
  END IF;

  -- Field overrides: _pgq_ev_* columns first, then the options in their order.
  v_vals := pgq._triga_eval(i_rel, v_main,
              ARRAY(SELECT format('CAST(r.%I AS pg_catalog.text)', c) FROM unnest(v_magic_cols) AS c)
              || ARRAY(SELECT CASE WHEN f = 'when' THEN format('CASE WHEN (%s) THEN ''t'' END', e)
                                   ELSE format('CAST((%s) AS pg_catalog.text)', e) END
                         FROM unnest(a.field_names, a.field_exprs) WITH ORDINALITY AS x(f, e, k) ORDER BY k));
  v_magic := ARRAY(SELECT substr(c, 6) FROM unnest(v_magic_cols) AS c) || a.field_names;
  FOR i IN 1 .. coalesce(cardinality(v_magic), 0) LOOP
    IF v_magic[i] = 'when' THEN
      IF v_vals[i] IS NULL THEN
        RETURN a.skip;
      END IF;
      CONTINUE;
    END IF;
    v_idx := CASE v_magic[i] WHEN 'ev_type' THEN 1 ELSE substr(v_magic[i], 9)::int + 1 END;
    v_fields[v_idx] := v_vals[i];
    v_set[v_idx] := true;
  END LOOP;

  PERFORM pgferry.insert_event(a.queue_name,
    CASE WHEN v_set[1] THEN v_fields[1] ELSE v_type END,
    v_data,
    CASE WHEN v_set[2] THEN v_fields[2] ELSE v_schema || '.' || v_table END,
    CASE WHEN v_set[3] THEN v_fields[3] ELSE v_backup END,
    v_fields[4], v_fields[5]);
  RETURN a.skip;
END $$;

-- logutriga's ev_data: the data columns as col=value pairs joined by "&" (NULL: col alone).
-- Names and values made only of characters that urlencoding keeps skip the encoder.
CREATE OR REPLACE FUNCTION pgq._triga_urlencoded(i_all text[], i_cols text[], i_vals text[])
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(string_agg(
           CASE WHEN c ~ '^[-_.a-zA-Z0-9]*$' THEN c ELSE pgq._urlencode(c) END
           || coalesce('=' || CASE WHEN i_vals[k] ~ '^[-_.a-zA-Z0-9]*$' THEN i_vals[k] ELSE pgq._urlencode(i_vals[k]) END, ''),
           '&' ORDER BY k), '')
    FROM unnest(i_all) WITH ORDINALITY AS x(c, k) WHERE c = ANY (i_cols)
$$;

-- jsontriga's ev_data: a JSON object of the columns and their JSON values.
CREATE OR REPLACE FUNCTION pgq._triga_json(i_cols text[], i_vals text[])
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT '{' || coalesce(string_agg(to_json(c)::text || ':' || i_vals[k], ',' ORDER BY k), '') || '}'
    FROM unnest(i_cols) WITH ORDINALITY AS x(c, k)
$$;

-- sqltriga's ev_data from the values in i_vals: INSERT "(cols) values (...)"; UPDATE the
-- data columns that changed (o to n; none: the first key column) "col='v',..." then
-- " where " and the key; DELETE the key, "k='v' and k2 is null".
CREATE OR REPLACE FUNCTION pgq._triga_sql(i_op text, i_all text[], i_cols text[], i_pkey text[],
                                          o text[], n text[], i_vals text[])
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH col AS (
    SELECT c, k, i_vals[k] AS v, c = ANY (i_pkey) AS is_key, o[k] IS DISTINCT FROM n[k] AS changed
      FROM unnest(i_all) WITH ORDINALITY AS x(c, k) WHERE c = ANY (i_cols) OR c = ANY (i_pkey)),
  key AS (
    SELECT string_agg(quote_ident(c) || coalesce('=' || quote_literal(v), ' is null'), ' and ' ORDER BY k) AS cond
      FROM col WHERE is_key),
  upd AS (
    SELECT coalesce(
             (SELECT string_agg(quote_ident(c) || '=' || quote_nullable(v), ',' ORDER BY k) FROM col
               WHERE NOT is_key AND changed),
             (SELECT quote_ident(c) || '=' || quote_nullable(v) FROM col WHERE is_key ORDER BY k LIMIT 1)) AS sets)
  SELECT CASE i_op
    WHEN 'INSERT' THEN
      (SELECT '(' || string_agg(quote_ident(c), ',' ORDER BY k) || ') values ('
              || string_agg(coalesce(quote_literal(v), 'null'), ',' ORDER BY k) || ')' FROM col)
    WHEN 'UPDATE' THEN (SELECT sets FROM upd) || ' where ' || (SELECT cond FROM key)
    ELSE (SELECT cond FROM key)
  END
$$;

CREATE OR REPLACE FUNCTION pgq.logutriga()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pgq._triga('logutriga', TG_OP, TG_LEVEL, TG_RELID, TG_ARGV, OLD::text, NEW::text)
     OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION pgq.jsontriga()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pgq._triga('jsontriga', TG_OP, TG_LEVEL, TG_RELID, TG_ARGV, OLD::text, NEW::text)
     OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION pgq.sqltriga()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pgq._triga('sqltriga', TG_OP, TG_LEVEL, TG_RELID, TG_ARGV, OLD::text, NEW::text)
     OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $$;
