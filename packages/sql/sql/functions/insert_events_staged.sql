-- Move the rows COPYed into this session's event stage (see event_stage) into the queue, in
-- the order of their ev_ord, in one statement, and empty the stage. i_ev_type, when given, is every
-- event's type (the stage's ev_type column is then ignored). Returns how many were inserted.
-- SECURITY DEFINER for the same reason as insert_event.
CREATE OR REPLACE FUNCTION pgferry.insert_events_staged(i_queue_name text, i_ev_type text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET enable_sort = off AS $$
DECLARE
  v_txid xid8 := pg_current_xact_id();
  v_queue_id int;
  v_table int;
  v_seq regclass;
  v_count bigint;
BEGIN
  IF pgferry._event_stage() IS NULL THEN
    RAISE EXCEPTION 'insert_events_staged into "%": this session has no event stage', i_queue_name
      USING ERRCODE = 'PF003', HINT = 'Call pgferry.event_stage() and COPY the events into the table it names first.';
  END IF;
  SELECT o_queue_id, o_table, o_seq INTO v_queue_id, v_table, v_seq FROM pgferry._queue_for_insert(i_queue_name);
  -- In ev_ord order: the stage's pages are not in the order COPY wrote its rows (a short row
  -- goes to an earlier page that has room left, through the free space map). Read through
  -- its primary key (enable_sort off: a sort of a million rows spills to disk); the ids are
  -- drawn in that order (the subquery is not flattened).
  INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data,
                             ev_extra1, ev_extra2, ev_extra3, ev_extra4)
  SELECT v_queue_id, v_table, nextval(v_seq), now(), v_txid,
         coalesce(i_ev_type, s.ev_type), s.ev_data, s.ev_extra1, s.ev_extra2, s.ev_extra3, s.ev_extra4
    FROM (SELECT * FROM pg_temp.pgferry_event_stage ORDER BY ev_ord OFFSET 0) s;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  TRUNCATE pg_temp.pgferry_event_stage;
  RETURN v_count;
END $$;
