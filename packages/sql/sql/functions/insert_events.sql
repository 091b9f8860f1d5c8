-- Set-based insert of many events in one statement. Arrays are parallel; a one-element
-- i_ev_types applies to every event. Returns the number of events inserted.
-- SECURITY DEFINER for the same reason as insert_event.
CREATE OR REPLACE FUNCTION pgferry.insert_events(
  i_queue_name text, i_ev_types text[], i_ev_datas text[],
  i_ev_extra1 text[] DEFAULT NULL, i_ev_extra2 text[] DEFAULT NULL,
  i_ev_extra3 text[] DEFAULT NULL, i_ev_extra4 text[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_txid xid8 := pg_current_xact_id();
  v_queue_id int;
  v_table int;
  v_seq regclass;
  v_one_type text;
  v_count bigint;
  v_n int := coalesce(cardinality(i_ev_datas), 0);
BEGIN
  SELECT o_queue_id, o_table, o_seq INTO v_queue_id, v_table, v_seq FROM pgferry._queue_for_insert(i_queue_name);
  IF cardinality(i_ev_types) = 1 THEN
    v_one_type := i_ev_types[1];
  ELSIF cardinality(i_ev_types) <> v_n THEN
    RAISE EXCEPTION 'insert_events into "%": % types for % events', i_queue_name,
      cardinality(i_ev_types), v_n
      USING ERRCODE = 'PF003', HINT = 'Pass one type per event, or a single type for all.';
  END IF;
  -- unnest() pads shorter arrays with NULLs: a longer extras array would add events.
  IF cardinality(i_ev_extra1) <> v_n OR cardinality(i_ev_extra2) <> v_n
     OR cardinality(i_ev_extra3) <> v_n OR cardinality(i_ev_extra4) <> v_n THEN
    RAISE EXCEPTION 'insert_events into "%": extras arrays must have one element per event (% events; i_ev_extra1..4 have %, %, %, %)',
      i_queue_name, v_n, cardinality(i_ev_extra1), cardinality(i_ev_extra2),
      cardinality(i_ev_extra3), cardinality(i_ev_extra4)
      USING ERRCODE = 'PF003', HINT = 'Pass NULL for an unused extras array, or one element (possibly NULL) per event.';
  END IF;
  INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data,
                             ev_extra1, ev_extra2, ev_extra3, ev_extra4)
  SELECT v_queue_id, v_table, nextval(v_seq), now(), v_txid,
         coalesce(v_one_type, u.t), u.d, u.e1, u.e2, u.e3, u.e4
    FROM unnest(CASE WHEN v_one_type IS NULL THEN i_ev_types END,
                i_ev_datas, i_ev_extra1, i_ev_extra2, i_ev_extra3, i_ev_extra4)
         AS u(t, d, e1, e2, e3, e4);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
