-- Batches: PGQ's calls and result columns over pgferry's batches. ev_txid is PGQ's bigint
-- (pgferry keeps xid8).

-- The consumer's batch: the open one, else a new one up to the next tick; NULL when there
-- is no new tick.
CREATE OR REPLACE FUNCTION pgq.next_batch(i_queue_name text, i_consumer_name text)
RETURNS bigint LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.next_batch(i_queue_name, i_consumer_name)
$$;

-- next_batch_info with conditions on the batch: its end tick at least i_min_lag old; it
-- spans at least i_min_count event ids or i_min_interval (then it may span several ticks:
-- the newest tick, or, when that is more than twice past the condition, the first one that
-- meets it). Nothing meets them: all NULL.
CREATE OR REPLACE FUNCTION pgq.next_batch_custom(
  i_queue_name text, i_consumer_name text,
  i_min_lag interval, i_min_count integer, i_min_interval interval,
  OUT batch_id bigint, OUT cur_tick_id bigint, OUT prev_tick_id bigint,
  OUT cur_tick_time timestamptz, OUT prev_tick_time timestamptz,
  OUT cur_tick_event_seq bigint, OUT prev_tick_event_seq bigint)
RETURNS record LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_min_lag IS NULL AND i_min_count IS NULL AND i_min_interval IS NULL THEN
    batch_id := pgferry.next_batch(i_queue_name, i_consumer_name);
  ELSE
    batch_id := pgq._next_batch_custom(i_queue_name, i_consumer_name, i_min_lag, i_min_count, i_min_interval);
  END IF;
  IF batch_id IS NOT NULL THEN
    SELECT i.tick_id, i.prev_tick_id, i.batch_end, i.batch_start, i.seq_end, i.seq_start
      INTO cur_tick_id, prev_tick_id, cur_tick_time, prev_tick_time, cur_tick_event_seq, prev_tick_event_seq
      FROM pgferry.get_batch_info(batch_id) i;
  END IF;
END $$;

-- next_batch with the batch's ticks, times and event counters (all NULL: no batch).
CREATE OR REPLACE FUNCTION pgq.next_batch_info(
  i_queue_name text, i_consumer_name text,
  OUT batch_id bigint, OUT cur_tick_id bigint, OUT prev_tick_id bigint,
  OUT cur_tick_time timestamptz, OUT prev_tick_time timestamptz,
  OUT cur_tick_event_seq bigint, OUT prev_tick_event_seq bigint)
RETURNS record LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM pgq.next_batch_custom(i_queue_name, i_consumer_name, NULL, NULL, NULL)
$$;

-- The end tick next_batch_custom chooses after tick t for its conditions (NULL: none yet).
CREATE OR REPLACE FUNCTION pgq._custom_end_tick(t pgferry.tick, i_min_lag interval, i_min_count integer,
                                                i_min_interval interval)
RETURNS pgferry.tick LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e pgferry.tick;
  v_meets boolean;
BEGIN
  IF i_min_count IS NULL AND i_min_interval IS NULL THEN
    SELECT * INTO e FROM pgferry.tick
     WHERE tick_queue = t.tick_queue AND tick_id > t.tick_id ORDER BY tick_id LIMIT 1;
  ELSE
    SELECT * INTO e FROM pgferry.tick
     WHERE tick_queue = t.tick_queue AND tick_id > t.tick_id ORDER BY tick_id DESC LIMIT 1;
    v_meets := (e.tick_event_seq - t.tick_event_seq >= i_min_count)
               OR (e.tick_time - t.tick_time >= i_min_interval);
    IF NOT coalesce(v_meets, false) THEN
      RETURN NULL;
    END IF;
    IF (e.tick_event_seq - t.tick_event_seq > i_min_count * 2)
       OR (e.tick_time - t.tick_time > i_min_interval * 2) THEN
      SELECT * INTO e FROM pgferry.tick
       WHERE tick_queue = t.tick_queue AND tick_id > t.tick_id
         AND ((tick_event_seq - t.tick_event_seq >= i_min_count)
              OR (tick_time - t.tick_time >= i_min_interval))
       ORDER BY tick_id LIMIT 1;
    END IF;
  END IF;
  IF e.tick_id IS NULL OR (i_min_lag IS NOT NULL AND pg_catalog.now() - e.tick_time < i_min_lag) THEN
    RETURN NULL;
  END IF;
  RETURN e;
END $$;

-- The batch of next_batch_custom's conditions: the open one, else a new one up to the end
-- tick _custom_end_tick chooses. A cooperative consumer uses pgq_coop.
CREATE OR REPLACE FUNCTION pgq._next_batch_custom(i_queue_name text, i_consumer_name text,
  i_min_lag interval, i_min_count integer, i_min_interval interval)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  t pgferry.tick;
  e pgferry.tick;
BEGIN
  s := pgferry._subscription(i_queue_name, i_consumer_name);  -- locked, access checked
  IF s.sub_parent IS NOT NULL OR EXISTS (SELECT 1 FROM pgferry.subscription_reg WHERE sub_parent = s.sub_id) THEN
    RAISE EXCEPTION 'consumer "%" on queue "%" is cooperative', i_consumer_name, i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Use pgq_coop.next_batch(queue, consumer, subconsumer).';
  END IF;
  IF s.sub_batch IS NULL THEN
    SELECT * INTO t FROM pgferry.tick WHERE tick_queue = s.sub_queue AND tick_id = s.sub_last_tick;
    e := pgq._custom_end_tick(t, i_min_lag, i_min_count, i_min_interval);
    IF e.tick_id IS NULL THEN
      RETURN NULL;
    END IF;
    s.sub_next_tick := e.tick_id;
    s.sub_batch := pg_catalog.nextval('pgferry.batch_id_seq');
    s.sub_batch_start := pg_catalog.now();
  END IF;
  s.sub_active := pg_catalog.now();
  PERFORM pgferry._set_position(s);
  RETURN s.sub_batch;
END $$;

-- The SELECT of a batch's events in PGQ's columns, ordered by ev_id.
CREATE OR REPLACE FUNCTION pgq.batch_event_sql(x_batch_id bigint)
RETURNS text LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT 'SELECT ev_id, ev_time, CAST(CAST(ev_txid AS pg_catalog.text) AS pg_catalog.int8) AS ev_txid, ev_retry,'
         ' ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4 FROM ('
         || pgferry.batch_event_sql(x_batch_id) || ') ev ORDER BY 1'
$$;

-- A batch's events (the whole set: use get_batch_cursor for large batches).
CREATE OR REPLACE FUNCTION pgq.get_batch_events(
  x_batch_id bigint,
  OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid bigint, OUT ev_retry integer,
  OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
  OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT e.ev_id, e.ev_time, CAST(CAST(e.ev_txid AS text) AS bigint), e.ev_retry, e.ev_type, e.ev_data,
         e.ev_extra1, e.ev_extra2, e.ev_extra3, e.ev_extra4
    FROM pgferry.get_batch_events(x_batch_id) e
$$;

-- Open cursor i_cursor_name (NO SCROLL, in this transaction) over the batch's events, those
-- matching i_extra_where when given (an SQL condition on the event columns, run with the
-- caller's rights), and return its first i_quick_limit rows; FETCH the rest from the cursor.
CREATE OR REPLACE FUNCTION pgq.get_batch_cursor(
  i_batch_id bigint, i_cursor_name text, i_quick_limit integer, i_extra_where text,
  OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid bigint, OUT ev_retry integer,
  OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
  OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_sql text;
BEGIN
  IF i_batch_id IS NULL OR i_cursor_name IS NULL OR i_quick_limit IS NULL THEN
    RETURN;
  END IF;
  v_sql := pgq.batch_event_sql(i_batch_id);
  IF i_extra_where IS NOT NULL THEN
    v_sql := pg_catalog.format('SELECT * FROM (%s) ev WHERE %s ORDER BY 1', v_sql, i_extra_where);
  END IF;
  EXECUTE pg_catalog.format('DECLARE %I NO SCROLL CURSOR FOR %s', i_cursor_name, v_sql);
  IF i_quick_limit > 0 THEN
    RETURN QUERY EXECUTE pg_catalog.format('FETCH %s FROM %I', i_quick_limit, i_cursor_name);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION pgq.get_batch_cursor(
  i_batch_id bigint, i_cursor_name text, i_quick_limit integer,
  OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid bigint, OUT ev_retry integer,
  OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
  OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM pgq.get_batch_cursor(i_batch_id, i_cursor_name, i_quick_limit, NULL)
$$;

-- Hand one event back, to come again to this consumer at x_retry_time (or after
-- x_retry_seconds). 1, or 0 if it was handed back already; an id not in the batch is an
-- error. Call it before finish_batch, in the batch's transaction.
CREATE OR REPLACE FUNCTION pgq.event_retry(x_batch_id bigint, x_event_id bigint, x_retry_time timestamptz)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.event_retry(x_batch_id, ARRAY[x_event_id],
                             GREATEST(x_retry_time - pg_catalog.now(), interval '0'))
$$;

CREATE OR REPLACE FUNCTION pgq.event_retry(x_batch_id bigint, x_event_id bigint, x_retry_seconds integer)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.event_retry(x_batch_id, ARRAY[x_event_id], pg_catalog.make_interval(secs => x_retry_seconds))
$$;

-- Hand every event of the batch back: the number handed back.
CREATE OR REPLACE FUNCTION pgq.batch_retry(i_batch_id bigint, i_retry_seconds integer)
RETURNS integer LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.event_retry(i_batch_id, ARRAY(SELECT e.ev_id FROM pgferry.get_batch_events(i_batch_id) e),
                             pg_catalog.make_interval(secs => i_retry_seconds))
$$;

-- Close a batch: 1; a batch that is not open gives PGQ's WARNING and 0 (check it: work done
-- in the same transaction for a batch that was not open should be rolled back).
CREATE OR REPLACE FUNCTION pgq.finish_batch(x_batch_id bigint)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN pgferry.finish_batch(x_batch_id);
EXCEPTION WHEN SQLSTATE 'PF005' THEN
  RAISE WARNING 'finish_batch: batch % not found', x_batch_id;
  RETURN 0;
END $$;

-- What a batch covers (a row of NULLs for a batch that is not open, as in PGQ).
CREATE OR REPLACE FUNCTION pgq.get_batch_info(
  x_batch_id bigint,
  OUT queue_name text, OUT consumer_name text, OUT batch_start timestamptz, OUT batch_end timestamptz,
  OUT prev_tick_id bigint, OUT tick_id bigint, OUT lag interval, OUT seq_start bigint, OUT seq_end bigint)
RETURNS record LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  SELECT i.queue_name, i.consumer_name, i.batch_start, i.batch_end, i.prev_tick_id, i.tick_id, i.lag,
         i.seq_start, i.seq_end
    INTO queue_name, consumer_name, batch_start, batch_end, prev_tick_id, tick_id, lag, seq_start, seq_end
    FROM pgferry.get_batch_info(x_batch_id) i;
EXCEPTION WHEN SQLSTATE 'PF005' THEN
  RETURN;
END $$;
