-- Since when a consumer at tick i_tick has had events to take: the time of the first tick
-- after i_tick whose batch from i_tick holds an event (NULL: no event up to the queue's
-- newest tick). The oldest event the consumer has not consumed committed between the tick
-- before that one and that one, so now() minus this time is how long that event has been
-- waiting for the consumer, less at most one tick interval. Events not ticked yet are not
-- counted (the ticker's lag shows them; a consumer that waits gets them ticked at once).
--
-- "The batch from i_tick to tick N holds an event" only ever turns true as N grows (tick
-- snapshots grow with tick ids): a binary search over the ticks after i_tick, a few index
-- probes per step (_events_between). A consumer at the newest tick costs one lookup.
CREATE OR REPLACE FUNCTION pgferry._pending_since(i_queue int, i_tick bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_from pg_snapshot;
  v_ticks bigint[];
  v_lo int := 1;
  v_hi int;
  v_mid int;
  v_time timestamptz;
  v_to pg_snapshot;
BEGIN
  SELECT pg_catalog.array_agg(t.tick_id ORDER BY t.tick_id) INTO v_ticks
    FROM pgferry.tick t WHERE t.tick_queue = i_queue AND t.tick_id > i_tick;
  IF v_ticks IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT t.tick_snapshot INTO v_from FROM pgferry.tick t WHERE t.tick_queue = i_queue AND t.tick_id = i_tick;
  IF v_from IS NULL THEN
    -- The position's tick is gone (a rewind target cleaned up): every tick after it counts.
    SELECT t.tick_time INTO v_time FROM pgferry.tick t WHERE t.tick_queue = i_queue AND t.tick_id = v_ticks[1];
    RETURN v_time;
  END IF;
  v_hi := pg_catalog.cardinality(v_ticks);
  SELECT t.tick_snapshot INTO v_to FROM pgferry.tick t WHERE t.tick_queue = i_queue AND t.tick_id = v_ticks[v_hi];
  IF NOT pgferry._events_between(i_queue, v_from, v_to) THEN
    RETURN NULL;
  END IF;
  WHILE v_lo < v_hi LOOP
    v_mid := (v_lo + v_hi) / 2;
    SELECT t.tick_snapshot INTO v_to FROM pgferry.tick t WHERE t.tick_queue = i_queue AND t.tick_id = v_ticks[v_mid];
    IF pgferry._events_between(i_queue, v_from, v_to) THEN
      v_hi := v_mid;
    ELSE
      v_lo := v_mid + 1;
    END IF;
  END LOOP;
  SELECT t.tick_time INTO v_time FROM pgferry.tick t WHERE t.tick_queue = i_queue AND t.tick_id = v_ticks[v_lo];
  RETURN v_time;
END $$;
