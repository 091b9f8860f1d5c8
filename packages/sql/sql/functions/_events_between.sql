-- Whether queue i_queue holds a committed event visible in snapshot i_new and not in i_old:
-- whether a batch from a tick with snapshot i_old to one with i_new would have events
-- (i_new: a later tick's snapshot, or pg_current_snapshot() for "a tick made now").
--
-- Those events are of the txids running at i_old (its xip list) and of txids from i_old's
-- xmax up to i_new's, as in batch_event_sql. Only transactions that had finished by i_new
-- are looked up: the xip entries visible in i_new, and the txid ranges between the ones
-- still running at i_new. So the index entries of an open transaction (a million-row
-- UPDATE still writing) are never walked, however often this is asked: an answer is a few
-- index probes per event table (one per range), and EXISTS stops at the first event.
--
-- Index probes always: a session keeps its generic plans, and one made while an event table
-- was empty (a new queue, a table just rotated in) read the table whole once it had filled
-- (seen on PostgreSQL 17: 6-19 ms a lookup under TPC-B, at every ticker round). No bitmap
-- scans either: they collect every match before the first is returned.
CREATE OR REPLACE FUNCTION pgferry._events_between(i_queue int, i_old pg_snapshot, i_new pg_snapshot)
RETURNS boolean LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
  v_late xid8[];
  v_lo xid8;
  v_hi xid8;
BEGIN
  SELECT pg_catalog.array_agg(x) INTO v_late
    FROM pg_catalog.pg_snapshot_xip(i_old) x WHERE pg_catalog.pg_visible_in_snapshot(x, i_new);
  IF v_late IS NOT NULL AND pgferry._events_of(i_queue, v_late) THEN
    RETURN true;
  END IF;
  -- A txid at or past i_old's xmax may also have been running at i_old (a snapshot's xmax
  -- is one past the newest *finished* txid): such a transaction is not in the xip list,
  -- and may have written all its events before i_old. The ranges cover it too.
  v_lo := pg_catalog.pg_snapshot_xmax(i_old);
  FOR v_hi IN SELECT x FROM pg_catalog.pg_snapshot_xip(i_new) x WHERE x >= v_lo
              UNION ALL SELECT pg_catalog.pg_snapshot_xmax(i_new) ORDER BY 1 LOOP
    IF v_hi > v_lo THEN
      IF EXISTS (SELECT 1 FROM pgferry.event e WHERE e.ev_queue = i_queue AND e.ev_txid >= v_lo AND e.ev_txid < v_hi) THEN
        RETURN true;
      END IF;
    END IF;
    v_lo := (v_hi::text::bigint + 1)::text::xid8;  -- past the running one
  END LOOP;
  RETURN false;
END $$;

-- Whether queue i_queue holds an event of one of i_txids (index probes, as above; PL/pgSQL
-- for its cached plan).
CREATE OR REPLACE FUNCTION pgferry._events_of(i_queue int, i_txids xid8[])
RETURNS boolean LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM pgferry.event e WHERE e.ev_queue = i_queue AND e.ev_txid = ANY (i_txids));
END $$;
