-- The SELECT that returns a batch's events, ordered by ev_id. Events of the batch are those
-- whose txid is visible in the end tick's snapshot and not in the start tick's. The scan is
-- an ev_txid range (start xmax .. end xmax) plus the exact list of txids that were running
-- at the start tick and finished by the end tick; list entries close below the range are
-- folded into it. So a long transaction does not widen the scan. Only the event tables that
-- can hold the batch's events are read (partition pruning by literal ev_tbl values).
-- Volatile, not STABLE: each statement then takes its snapshot after the locks it waits
-- for, so a rotation of the tick partitions (TRUNCATE) that commits meanwhile is seen
-- whole, never as ticks missing (the same for get_batch_info, get_consumer_info).
CREATE OR REPLACE FUNCTION pgferry.batch_event_sql(i_batch_id bigint)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c_fold constant bigint := 100;  -- fold list txids this close below the range into it
  s pgferry.subscription;
  q pgferry.queue;
  s1 pg_snapshot;
  s2 pg_snapshot;
  v_lo bigint;
  v_hi bigint;
  v_list bigint[];
  v_tables int[];
  v_tbl int;
  v_era_end xid8;
  v_cond text;
  v_last bigint;
BEGIN
  s := pgferry._open_batch(i_batch_id);
  SELECT * INTO q FROM pgferry.queue WHERE queue_id = s.sub_queue;
  SELECT tick_snapshot INTO s1 FROM pgferry.tick WHERE tick_queue = q.queue_id AND tick_id = s.sub_last_tick;
  SELECT tick_snapshot INTO s2 FROM pgferry.tick WHERE tick_queue = q.queue_id AND tick_id = s.sub_next_tick;
  IF s1 IS NULL OR s2 IS NULL THEN
    -- An open batch's ticks are always kept: this snapshot predates a rotation of the tick
    -- partitions (TRUNCATE is not MVCC-safe). A batch built without them would be wrong.
    RAISE EXCEPTION 'the ticks of batch % are not visible to this transaction', i_batch_id
      USING ERRCODE = 'serialization_failure',
            HINT = 'The tick partitions rotated after this transaction''s snapshot was taken; retry the transaction.';
  END IF;

  -- An older table holds only txids below the step 2 of the switch that ended its era (the
  -- switch that made the next table current). The batch's txids are not visible at the
  -- start tick, so they are >= its xmin: walk back from the current table while an era
  -- ended above that xmin. A consumer that keeps up reads the current table and, until it
  -- is past the last switch, the previous one; one rewound by register_consumer_at may
  -- need every table still held (the data horizon keeps it off truncated ones).
  v_tables := ARRAY[q.queue_cur_table];
  FOR k IN 1 .. q.queue_ntables - 1 LOOP
    v_tbl := (q.queue_cur_table - k + q.queue_ntables) % q.queue_ntables;
    v_era_end := CASE WHEN k = 1 THEN q.queue_switch_step2  -- NULL: switch in progress
                      ELSE q.queue_table_step2[(v_tbl + 1) % q.queue_ntables + 1] END;
    EXIT WHEN v_era_end IS NOT NULL AND pg_snapshot_xmin(s1) >= v_era_end;
    v_tables := v_tables || v_tbl;
  END LOOP;

  v_lo := pg_snapshot_xmax(s1)::text::bigint;
  v_hi := pg_snapshot_xmax(s2)::text::bigint;
  SELECT array_agg(x::text::bigint ORDER BY x) INTO v_list
    FROM pg_snapshot_xip(s1) AS x WHERE pg_visible_in_snapshot(x, s2);
  v_list := coalesce(v_list, '{}');
  WHILE cardinality(v_list) > 0 LOOP
    v_last := v_list[cardinality(v_list)];
    EXIT WHEN v_lo - v_last > c_fold;
    v_lo := v_last;
    v_list := v_list[1:cardinality(v_list) - 1];
  END LOOP;

  -- The SQL runs in the consumer's session, under its search_path: every operator and type
  -- in it is schema-qualified.
  v_cond := format('ev_txid OPERATOR(pg_catalog.>=) %L::pg_catalog.xid8 AND ev_txid OPERATOR(pg_catalog.<) %L::pg_catalog.xid8', v_lo, v_hi);
  IF v_lo < pg_snapshot_xmax(s1)::text::bigint THEN
    -- Folded: the range now also covers txids already visible at the start tick.
    v_cond := v_cond || format(' AND NOT pg_catalog.pg_visible_in_snapshot(ev_txid, %L::pg_catalog.pg_snapshot)', s1);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_snapshot_xip(s2) AS x WHERE x::text::bigint >= v_lo) THEN
    -- Transactions still running at the end tick belong to a later batch.
    v_cond := v_cond || format(' AND pg_catalog.pg_visible_in_snapshot(ev_txid, %L::pg_catalog.pg_snapshot)', s2);
  END IF;
  IF cardinality(v_list) > 0 THEN
    v_cond := format('(%s) OR ev_txid OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.xid8[])', v_cond, v_list::text);
  END IF;

  RETURN format(
    'SELECT ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4'
    ' FROM pgferry.event'
    ' WHERE ev_queue OPERATOR(pg_catalog.=) %s AND ev_tbl OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.int4[])'
    ' AND (ev_owner IS NULL OR ev_owner OPERATOR(pg_catalog.=) %s) AND (%s)'
    ' ORDER BY ev_id',
    q.queue_id, v_tables::text, coalesce(s.sub_parent, s.sub_id), v_cond);
END $$;
