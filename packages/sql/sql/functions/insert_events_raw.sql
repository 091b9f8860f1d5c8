-- A branch node's queue carries its provider's events: the replicator copies each batch's
-- events in the transaction that applies them, keeping their ids, times, types and data
-- (the txid is the copying transaction's), then makes the provider's tick with
-- tick_external. So the branch's batches are its provider's, tick for tick, and a node
-- below it can move to another provider at the same tick. Only into a queue ticked from
-- outside (a branch's); disable_insert does not apply (it keeps the application's writes
-- out of a branch, not its provider's events). Returns the number of events inserted.
CREATE OR REPLACE FUNCTION pgferry.insert_events_raw(
  i_queue_name text, i_ev_ids bigint[], i_ev_times timestamptz[], i_ev_types text[], i_ev_datas text[],
  i_ev_extra1 text[], i_ev_extra2 text[], i_ev_extra3 text[], i_ev_extra4 text[])
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- Taken before the queue row is read, as in insert_event (see maint_rotate_tables_step2).
  v_txid xid8 := pg_catalog.pg_current_xact_id();
  q pgferry.queue;
  v_n int := coalesce(pg_catalog.cardinality(i_ev_ids), 0);
  v_count bigint;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF NOT q.queue_external_ticker THEN
    RAISE EXCEPTION 'queue "%" is not a branch''s queue: its events are its own, not copied from a provider', i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Only a queue with external_ticker set takes copied events.';
  END IF;
  IF pg_catalog.cardinality(i_ev_times) <> v_n OR pg_catalog.cardinality(i_ev_types) <> v_n
     OR pg_catalog.cardinality(i_ev_datas) <> v_n OR pg_catalog.cardinality(i_ev_extra1) <> v_n
     OR pg_catalog.cardinality(i_ev_extra2) <> v_n OR pg_catalog.cardinality(i_ev_extra3) <> v_n
     OR pg_catalog.cardinality(i_ev_extra4) <> v_n THEN
    RAISE EXCEPTION 'insert_events_raw into "%": every array must have one element per event (% ids)', i_queue_name, v_n
      USING ERRCODE = 'PF003';
  END IF;
  INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data,
                             ev_extra1, ev_extra2, ev_extra3, ev_extra4)
  SELECT q.queue_id, q.queue_cur_table, u.id, u.t, v_txid, u.ty, u.d, u.e1, u.e2, u.e3, u.e4
    FROM ROWS FROM (pg_catalog.unnest(i_ev_ids), pg_catalog.unnest(i_ev_times), pg_catalog.unnest(i_ev_types),
                    pg_catalog.unnest(i_ev_datas), pg_catalog.unnest(i_ev_extra1), pg_catalog.unnest(i_ev_extra2),
                    pg_catalog.unnest(i_ev_extra3), pg_catalog.unnest(i_ev_extra4)) AS u(id, t, ty, d, e1, e2, e3, e4);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
