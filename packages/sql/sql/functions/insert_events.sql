-- Set-based insert of many events in one statement. Arrays are parallel; a one-element
-- i_ev_types applies to every event. Returns the number of events inserted.
CREATE OR REPLACE FUNCTION pgferry.insert_events(
  i_queue_name text, i_ev_types text[], i_ev_datas text[],
  i_ev_extra1 text[] DEFAULT NULL, i_ev_extra2 text[] DEFAULT NULL,
  i_ev_extra3 text[] DEFAULT NULL, i_ev_extra4 text[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_txid xid8 := pg_catalog.pg_current_xact_id();
  v_queue_id int;
  v_table int;
  v_seq regclass;
  v_disabled boolean;
  v_one_type text;
  v_count bigint;
BEGIN
  SELECT queue_id, queue_cur_table, queue_event_seq, queue_disable_insert
    INTO v_queue_id, v_table, v_seq, v_disabled
    FROM pgferry.queue WHERE queue_name = i_queue_name;
  IF NOT FOUND THEN
    PERFORM pgferry._queue(i_queue_name);
  END IF;
  IF v_disabled THEN
    RAISE EXCEPTION 'inserts into queue "%" are disabled', i_queue_name USING ERRCODE = 'PF006';
  END IF;
  IF pg_catalog.cardinality(i_ev_types) = 1 THEN
    v_one_type := i_ev_types[1];
  ELSIF pg_catalog.cardinality(i_ev_types) <> pg_catalog.cardinality(i_ev_datas) THEN
    RAISE EXCEPTION 'insert_events into "%": % types for % events', i_queue_name,
      pg_catalog.cardinality(i_ev_types), pg_catalog.cardinality(i_ev_datas)
      USING ERRCODE = 'PF003', HINT = 'Pass one type per event, or a single type for all.';
  END IF;
  INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data,
                             ev_extra1, ev_extra2, ev_extra3, ev_extra4)
  SELECT v_queue_id, v_table, pg_catalog.nextval(v_seq), pg_catalog.now(), v_txid,
         coalesce(v_one_type, u.t), u.d, u.e1, u.e2, u.e3, u.e4
    FROM unnest(CASE WHEN v_one_type IS NULL THEN i_ev_types END,
                i_ev_datas, i_ev_extra1, i_ev_extra2, i_ev_extra3, i_ev_extra4)
         AS u(t, d, e1, e2, e3, e4);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
