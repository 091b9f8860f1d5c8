-- Rotation of the position log (migration 006): once the current partition is older than
-- i_period, new rows go to an empty partition; every other partition is TRUNCATEd after
-- the newest row of each subscription still in it is copied forward. So the log holds
-- about one period of rows whatever snapshot is held, and nothing is ever vacuumed.
-- Every lock is taken NOWAIT: a busy partition waits for the next round. Returns the
-- number of partitions truncated.
CREATE OR REPLACE FUNCTION pgferry.maint_rotate_metadata(i_period interval DEFAULT interval '5 minutes')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_cur smallint;
  v_part smallint;
  v_count int := 0;
BEGIN
  IF NOT pgferry._lock_nowait('pgferry.queue', 'EXCLUSIVE') THEN
    RETURN 0;
  END IF;
  PERFORM pgferry._advance_generation('pgferry.metadata_generation', 'pgferry.subscription_pos', i_period);
  v_cur := pgferry._metadata_part();
  FOR k IN 1 .. 2 LOOP
    v_part := (v_cur + k) % 3;
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pgferry.subscription_pos WHERE sp_part = v_part);
    CONTINUE WHEN NOT pgferry._lock_nowait(format('pgferry.subscription_pos_%s', v_part));
    -- Under the lock nobody reads or writes a position (every reader scans every
    -- partition): the rows copied are the newest ones.
    INSERT INTO pgferry.subscription_pos (sp_part, sp_sub, sp_last_tick, sp_next_tick, sp_batch, sp_batch_start, sp_active)
    SELECT v_cur, p.sp_sub, p.sp_last_tick, p.sp_next_tick, p.sp_batch, p.sp_batch_start, p.sp_active
      FROM pgferry.subscription_reg r
      CROSS JOIN LATERAL (SELECT x.* FROM pgferry.subscription_pos x
                           WHERE x.sp_sub = r.sub_id ORDER BY x.sp_seq DESC LIMIT 1) p
     WHERE p.sp_part = v_part;
    EXECUTE format('TRUNCATE pgferry.subscription_pos_%s', v_part);
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END $$;

-- Move a rotating log on to an empty partition when its current one holds rows and is at
-- least i_period old. The generation (a sequence: writers see it at once, whatever their
-- snapshot) is the switch time in seconds * 3 + the partition.
CREATE OR REPLACE FUNCTION pgferry._advance_generation(i_seq regclass, i_table regclass, i_period interval)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_gen bigint;
  v_cur smallint;
  v_part smallint;
  v_busy boolean;
  v_now bigint := floor(extract(epoch FROM clock_timestamp()))::bigint;
BEGIN
  EXECUTE format('SELECT last_value FROM %s', i_seq) INTO v_gen;
  v_cur := v_gen % 3;
  -- (Several switches within a second put the recorded time ahead: only a zero period,
  -- which ignores it, switches that often.)
  IF i_period > interval '0' AND to_timestamp(v_gen / 3) > clock_timestamp() - i_period THEN
    RETURN;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s_%s)', i_table, v_cur) INTO v_busy;
  IF NOT v_busy THEN
    RETURN;
  END IF;
  FOR k IN 1 .. 2 LOOP
    v_part := (v_cur + k) % 3;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s_%s)', i_table, v_part) INTO v_busy;
    IF NOT v_busy THEN
      PERFORM setval(i_seq, greatest(v_now * 3, v_gen - v_cur + 3) + v_part);
      RETURN;
    END IF;
  END LOOP;
END $$;

-- Take a lock without waiting: false if anyone holds a conflicting one.
--
-- The maintenance that TRUNCATEs metadata partitions first takes pgferry.queue in
-- EXCLUSIVE mode, which only plain reads (producers, ticker, consumers) share. It keeps
-- them from running at the same time as each other or as a rotation of the event tables
-- (whose FOR UPDATE of the queue row conflicts): those decide from positions and ticks,
-- which a statement whose snapshot predates a TRUNCATE would see missing.
CREATE OR REPLACE FUNCTION pgferry._lock_nowait(i_table text, i_mode text DEFAULT 'ACCESS EXCLUSIVE')
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format('LOCK TABLE %s IN %s MODE NOWAIT', i_table, i_mode);
  RETURN true;
EXCEPTION WHEN lock_not_available THEN
  RETURN false;
END $$;
