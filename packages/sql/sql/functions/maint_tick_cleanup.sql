-- Remove ticks no consumer can use any more: older than every consumer's position and below
-- the data horizon (their events are gone, so nobody can rewind to them); each queue's
-- newest tick always stays. Returns how many of this queue's ticks went.
--
-- Ticks live in three partitions (migration 006) and go by TRUNCATE, never DELETE, so a
-- held snapshot leaves no dead tuples behind. A partition whose ticks are all unneeded is
-- truncated; one with a mix is compacted (its needed ticks copied into the current
-- partition first) when that copy is small: at most as many as it frees, or up to
-- c_copy_max. The current partition moves on to an empty one first, so it can be
-- compacted too. Every lock is taken NOWAIT: a busy partition waits for the next round.
CREATE OR REPLACE FUNCTION pgferry.maint_tick_cleanup(i_queue_name text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_before bigint;
BEGIN
  q := pgferry._queue(i_queue_name);
  v_before := pgferry._ticks_below_cut(q.queue_id, NULL);
  PERFORM pgferry._compact_ticks();
  RETURN v_before - pgferry._ticks_below_cut(q.queue_id, NULL);
END $$;

-- Per queue, the oldest tick still needed: a consumer's position (or the newest tick, if
-- older), or the oldest permitted rewind (its events are all still held), whichever is
-- older. Every tick from there on is needed, none before: tick snapshots grow with tick ids.
CREATE OR REPLACE FUNCTION pgferry._tick_cuts(OUT queue_id int, OUT cut bigint)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT q.queue_id,
         least((SELECT min(s.sub_last_tick) FROM pgferry.subscription s WHERE s.sub_queue = q.queue_id),
               (SELECT max(x.tick_id) FROM pgferry.tick x WHERE x.tick_queue = q.queue_id),
               (SELECT min(x.tick_id) FROM pgferry.tick x
                 WHERE x.tick_queue = q.queue_id
                   AND pg_catalog.pg_snapshot_xmin(x.tick_snapshot) >= q.queue_data_horizon))
    FROM pgferry.queue q
$$;

-- How many ticks (of one queue, or all; in one partition, or all) are no longer needed:
-- an index range per queue, cheap when there are none.
CREATE OR REPLACE FUNCTION pgferry._ticks_below_cut(i_queue int, i_part smallint)
RETURNS bigint LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(sum((SELECT count(*) FROM pgferry.tick t
                        WHERE t.tick_queue = c.queue_id AND t.tick_id < c.cut
                          AND (i_part IS NULL OR t.tick_part = i_part))), 0)::bigint
    FROM pgferry._tick_cuts() c
   WHERE i_queue IS NULL OR c.queue_id = i_queue
$$;

CREATE OR REPLACE FUNCTION pgferry._compact_ticks()
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c_copy_max constant bigint := 1000;
  v_cur smallint;
  v_part smallint;
  v_unneeded bigint;
  v_needed bigint;
BEGIN
  IF NOT pgferry._lock_nowait('pgferry.queue', 'EXCLUSIVE') THEN
    RETURN;  -- see _lock_nowait
  END IF;
  PERFORM pgferry._advance_generation('pgferry.tick_generation', 'pgferry.tick', interval '0');
  v_cur := pgferry._tick_part();
  FOR k IN 1 .. 2 LOOP
    v_part := (v_cur + k) % 3;
    -- Cheap when there is nothing to remove: an index range per queue.
    v_unneeded := pgferry._ticks_below_cut(NULL, v_part);
    CONTINUE WHEN v_unneeded = 0;
    SELECT count(*) - v_unneeded INTO v_needed FROM pgferry.tick WHERE tick_part = v_part;
    CONTINUE WHEN v_needed > greatest(v_unneeded, c_copy_max);
    CONTINUE WHEN NOT pgferry._lock_nowait(format('pgferry.tick_%s', v_part));
    -- Under the lock no tick can be added to or read from this partition: copy and empty it.
    INSERT INTO pgferry.tick (tick_queue, tick_id, tick_time, tick_snapshot, tick_event_seq, tick_xid_bound, tick_part)
    SELECT t.tick_queue, t.tick_id, t.tick_time, t.tick_snapshot, t.tick_event_seq, t.tick_xid_bound, v_cur
      FROM pgferry._tick_cuts() c
      CROSS JOIN LATERAL (SELECT * FROM pgferry.tick x
                           WHERE x.tick_queue = c.queue_id AND x.tick_id >= c.cut AND x.tick_part = v_part) t;
    EXECUTE format('TRUNCATE pgferry.tick_%s', v_part);
  END LOOP;
  PERFORM pgferry._advance_generation('pgferry.tick_generation', 'pgferry.tick', interval '0');
END $$;
