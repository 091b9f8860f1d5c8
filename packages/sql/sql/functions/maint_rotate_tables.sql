-- Rotation, phase 1: switch writers to the next event table after TRUNCATEing it. Only
-- when the rotation period has passed, phase 2 of the previous switch is done, and every
-- consumer is past the previous switch (no reader can need the table being emptied).
-- The TRUNCATE takes its lock with NOWAIT: on a conflict the rotation is skipped, never
-- waited for, so producers are never stalled. Returns 1 if it switched, else 0.
CREATE OR REPLACE FUNCTION pgferry.maint_rotate_tables_step1(i_queue_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_ntables int;
  v_next int;
  v_table text;
BEGIN
  PERFORM pgferry._queue(i_queue_name);
  BEGIN
    -- Neither the queue row nor the table is waited for: on any lock conflict (another
    -- rotation, a config change, a reader of the table) this rotation is skipped.
    SELECT * INTO q FROM pgferry.queue WHERE queue_name = i_queue_name FOR UPDATE NOWAIT;
    IF q.queue_switch_step2 IS NULL OR pg_catalog.now() < q.queue_switch_time + q.queue_rotation_period
       OR pgferry._rotation_blocked_by(q) IS NOT NULL THEN
      RETURN 0;
    END IF;
    -- Tables added by set_queue_config join the cycle when it wraps around: after the last
    -- table comes the first new one, so walking back from the current table still goes
    -- from newer to older events.
    IF q.queue_ntables_next IS NOT NULL AND q.queue_cur_table = q.queue_ntables - 1 THEN
      v_ntables := q.queue_ntables_next;
    ELSE
      v_ntables := q.queue_ntables;
    END IF;
    v_next := (q.queue_cur_table + 1) % v_ntables;
    v_table := pg_catalog.format('pgferry.event_%s_%s', q.queue_id, v_next);
    EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', v_table);
  EXCEPTION WHEN lock_not_available THEN
    RETURN 0;
  END;
  EXECUTE pg_catalog.format('TRUNCATE %s', v_table);
  UPDATE pgferry.queue
     SET queue_cur_table = v_next,
         queue_ntables = v_ntables,
         queue_ntables_next = CASE WHEN queue_ntables_next > v_ntables THEN queue_ntables_next END,
         queue_switch_time = pg_catalog.now(),
         queue_switch_step1 = pg_catalog.pg_current_xact_id(),
         queue_switch_step2 = NULL,
         -- The oldest table left now is the one after v_next: only txids from the switch
         -- that made it current on are still held. (A table just added holds nothing and
         -- has no switch yet: truncating it removes nothing, the horizon stays.)
         queue_data_horizon = greatest(queue_data_horizon, queue_table_step2[(v_next + 1) % v_ntables + 1])
   WHERE queue_id = q.queue_id;
  RETURN 1;
END $$;

-- Rotation, phase 2, in a later transaction than phase 1: record a txid bound above which
-- every transaction writes to the new table. Returns the number of queues completed.
--
-- The bound is this transaction's own txid, drawn after step 1 committed: a txid is
-- assigned before insert_event reads the queue row, so a transaction that read the old
-- current table got its txid earlier, below the bound. (A snapshot's xmax would not do: it
-- is one past the latest *completed* txid, and a producer still running with a txid above
-- it may have written to the old table.)
--
-- "Every txid from there on writes to the new table" needs the writer to read the queue row
-- after step 1 committed. A READ COMMITTED writer does (each statement of insert_event takes
-- a new snapshot after its txid was assigned); a REPEATABLE READ or SERIALIZABLE one reads
-- it with its transaction snapshot, which may predate step 1 while its txid is assigned only
-- now. So phase 2 waits (returns 0, the next maintenance round tries again) while another
-- session of this database without a txid holds a snapshot from before step 1 committed:
-- such a snapshot's xmin is at most step 1's txid. Only sessions older than the switch
-- delay it (a long read-only query too: the cost is a later rotation, never a lost event).
CREATE OR REPLACE FUNCTION pgferry.maint_rotate_tables_step2()
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_snap pg_snapshot := pg_catalog.pg_current_snapshot();
  v_xmax bigint := pg_catalog.pg_snapshot_xmax(v_snap)::text::bigint;
  v_oldest bigint;
  v_bound xid8;
  v_count int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgferry.queue WHERE queue_switch_step2 IS NULL
                    AND pg_catalog.pg_visible_in_snapshot(queue_switch_step1, v_snap)) THEN
    RETURN 0;  -- nothing to complete: no txid drawn
  END IF;
  v_bound := pg_catalog.pg_current_xact_id();
  PERFORM pg_catalog.pg_stat_clear_snapshot();  -- fresh activity data even in a longer transaction
  -- A session that already has a txid below our xmax is harmless (that txid is below step
  -- 2 whatever it reads). xids there are 32-bit: widen them to the txid nearest our xmax.
  WITH a AS (
    SELECT v_xmax + ((backend_xmin::text::bigint - v_xmax % 4294967296 + 6442450944) % 4294967296)
                  - 2147483648 AS xmin8,
           v_xmax + ((backend_xid::text::bigint - v_xmax % 4294967296 + 6442450944) % 4294967296)
                  - 2147483648 AS xid8
      FROM pg_stat_activity
     WHERE datid = (SELECT oid FROM pg_database WHERE datname = pg_catalog.current_database())
       AND pid <> pg_catalog.pg_backend_pid()
       AND backend_xmin IS NOT NULL
       -- NULL for other roles' sessions when we are not a superuser: those count too
       AND (backend_type IS NULL OR backend_type NOT IN ('walsender', 'autovacuum worker')))
  SELECT min(xmin8) INTO v_oldest FROM a WHERE xid8 IS NULL OR xid8 >= v_xmax;
  UPDATE pgferry.queue
     SET queue_switch_step2 = v_bound,
         queue_table_step2[queue_cur_table + 1] = v_bound
   WHERE queue_switch_step2 IS NULL
     AND pg_catalog.pg_visible_in_snapshot(queue_switch_step1, v_snap)
     AND (v_oldest IS NULL OR v_oldest > queue_switch_step1::text::bigint);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
