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
  SELECT count(*) INTO v_before FROM pgferry.tick WHERE tick_queue = q.queue_id;
  PERFORM pgferry._compact_ticks();
  RETURN v_before - (SELECT count(*) FROM pgferry.tick WHERE tick_queue = q.queue_id);
END $$;

-- Whether each tick is still needed: a consumer's position or later (the newest tick
-- included), or a permitted rewind (its events are all still held).
CREATE OR REPLACE FUNCTION pgferry._tick_needed(i_part smallint,
  OUT tick_queue int, OUT tick_id bigint, OUT needed boolean)
RETURNS SETOF record LANGUAGE sql STABLE AS $$
  SELECT t.tick_queue, t.tick_id,
         t.tick_id >= k.keep OR pg_catalog.pg_snapshot_xmin(t.tick_snapshot) >= q.queue_data_horizon
    FROM pgferry.tick t
    JOIN pgferry.queue q ON q.queue_id = t.tick_queue
    CROSS JOIN LATERAL (
      SELECT least((SELECT min(s.sub_last_tick) FROM pgferry.subscription s WHERE s.sub_queue = q.queue_id),
                   (SELECT max(x.tick_id) FROM pgferry.tick x WHERE x.tick_queue = q.queue_id)) AS keep) k
   WHERE t.tick_part = i_part
$$;

CREATE OR REPLACE FUNCTION pgferry._compact_ticks()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  c_copy_max constant bigint := 1000;
  v_cur smallint;
  v_part smallint;
  v_total bigint;
  v_needed bigint;
BEGIN
  PERFORM pgferry._advance_generation('pgferry.tick_generation', 'pgferry.tick', interval '0');
  v_cur := pgferry._tick_part();
  FOR k IN 1 .. 2 LOOP
    v_part := (v_cur + k) % 3;
    SELECT count(*), count(*) FILTER (WHERE n.needed) INTO v_total, v_needed FROM pgferry._tick_needed(v_part) n;
    CONTINUE WHEN v_total = v_needed OR v_needed > greatest(v_total - v_needed, c_copy_max);
    CONTINUE WHEN NOT pgferry._lock_nowait(format('pgferry.tick_%s', v_part));
    -- Under the lock no tick can be added to or read from this partition: copy and empty it.
    INSERT INTO pgferry.tick (tick_queue, tick_id, tick_time, tick_snapshot, tick_event_seq, tick_part)
    SELECT t.tick_queue, t.tick_id, t.tick_time, t.tick_snapshot, t.tick_event_seq, v_cur
      FROM pgferry.tick t JOIN pgferry._tick_needed(v_part) n USING (tick_queue, tick_id)
     WHERE t.tick_part = v_part AND n.needed;
    EXECUTE format('TRUNCATE pgferry.tick_%s', v_part);
  END LOOP;
  PERFORM pgferry._advance_generation('pgferry.tick_generation', 'pgferry.tick', interval '0');
END $$;
