-- The source of one generated capture trigger function (i_op: ins, upd, del, trunc) for a
-- captured table. Everything the function needs (queue id, table name, key, image, filter)
-- is baked in as literals, so its one INSERT ... SELECT is static and its plan cached.
--
-- Statement mode reads the statement's transition tables; row mode reads the one row
-- (SELECT NEW.*) through the same statement. An UPDATE is the full join of old and new
-- rows on the key: a row whose key changed becomes a delete of the old key and an insert
-- of the new one, a row that leaves the filter a delete, one that enters it an insert, and
-- a row whose captured image did not change is not captured at all.
--
-- Events: ev_type I/U/D/T, ev_data the row image (JSON text, ignored columns removed; for
-- D the old row), ev_extra1 the table name, ev_extra2 the key as a JSON array.
CREATE OR REPLACE FUNCTION pgferry._capture_trigger_sql(ct pgferry.capture_table, i_op text)
RETURNS text LANGUAGE plpgsql STABLE AS $body$
DECLARE
  v_new    text := CASE WHEN ct.ct_mode = 'row' THEN '(SELECT NEW.*)' ELSE 'pgferry_new' END;
  v_old    text := CASE WHEN ct.ct_mode = 'row' THEN '(SELECT OLD.*)' ELSE 'pgferry_old' END;
  v_filter text := coalesce(ct.ct_filter, 'true');
  -- row_to_json: half the cost of to_jsonb (no jsonb value built); jsonb only to drop
  -- ignored columns. Images and keys are compared as text: the same row gives the same text.
  v_image  text := 'pg_catalog.row_to_json(r)::text';
  v_key    text;
  v_name   text := quote_literal(ct.ct_table_name);
  v_insert text := 'INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data, ev_extra1, ev_extra2) ';
  v_values text := 'v_queue, v_tbl, pg_catalog.nextval(v_seq), pg_catalog.now(), v_txid';
  v_stmt   text;
BEGIN
  IF cardinality(ct.ct_ignore_columns) > 0 THEN
    v_image := format('(pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) %L::text[])::text', ct.ct_ignore_columns);
  END IF;
  SELECT 'pg_catalog.json_build_array(' || string_agg(format('r.%I', c), ', ' ORDER BY o) || ')::text'
    INTO v_key FROM unnest(ct.ct_key_columns) WITH ORDINALITY AS u(c, o);

  IF i_op = 'ins' OR i_op = 'del' THEN
    v_stmt := v_insert || format('SELECT %s, %L, %s, %s, %s FROM %s AS r WHERE (%s)',
      v_values, CASE i_op WHEN 'ins' THEN 'I' ELSE 'D' END, v_image, v_name, v_key,
      CASE i_op WHEN 'ins' THEN v_new ELSE v_old END, v_filter);
  ELSIF i_op = 'upd' THEN
    v_stmt := v_insert || format(
      'SELECT %s, CASE WHEN o.k IS NULL THEN ''I'' WHEN n.k IS NULL THEN ''D'' ELSE ''U'' END,'
      ' coalesce(n.j, o.j), %s, coalesce(n.k, o.k)'
      ' FROM (SELECT %s AS k, %s AS j FROM %s AS r WHERE (%s)) AS o'
      ' FULL JOIN (SELECT %s AS k, %s AS j FROM %s AS r WHERE (%s)) AS n ON n.k = o.k'
      ' WHERE o.k IS NULL OR n.k IS NULL OR n.j IS DISTINCT FROM o.j',
      v_values, v_name, v_key, v_image, v_old, v_filter, v_key, v_image, v_new, v_filter);
  ELSIF i_op = 'trunc' THEN
    v_stmt := v_insert || format('VALUES (%s, ''T'', NULL, %s, NULL)', v_values, v_name);
  ELSE
    RAISE EXCEPTION 'unknown capture operation %', i_op USING ERRCODE = 'PF003';
  END IF;

  -- The txid is taken before the queue row is read (see insert_event). Changes made by the
  -- replicator (SET pgferry.replica = on) are not captured again: no superuser needed.
  RETURN format($f$CREATE OR REPLACE FUNCTION pgferry._capture_%s_%s() RETURNS trigger LANGUAGE plpgsql AS $pgferry_fn$
DECLARE
  v_txid xid8;
  v_queue int := %s;
  v_tbl int;
  v_seq regclass;
  v_disabled boolean;
BEGIN
  IF pg_catalog.current_setting('pgferry.replica', true) = 'on' THEN
    RETURN NULL;
  END IF;
  v_txid := pg_catalog.pg_current_xact_id();
  SELECT queue_cur_table, queue_event_seq, queue_disable_insert INTO v_tbl, v_seq, v_disabled
    FROM pgferry.queue WHERE queue_id = v_queue;
  IF v_disabled THEN
    RAISE EXCEPTION 'inserts into the queue of captured table %% are disabled', %s USING ERRCODE = 'PF006';
  END IF;
  %s;
  RETURN NULL;
END $pgferry_fn$ $f$, ct.ct_id, i_op, ct.ct_queue, v_name, v_stmt);
END $body$;
