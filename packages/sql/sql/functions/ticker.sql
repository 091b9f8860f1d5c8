-- PGQ's rules: a queue is due for a tick after ticker_max_count events since its last tick
-- (i_last_seq, i_last_time; NULL: none), or some events and ticker_max_lag elapsed, or
-- ticker_idle_period elapsed. A queue whose event counter cannot be read (i_seq NULL) is due:
-- ticker() then says what is wrong with it.
CREATE OR REPLACE FUNCTION pgferry._tick_due(q pgferry.queue, i_last_seq bigint, i_last_time timestamptz, i_seq bigint)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT i_last_seq IS NULL OR i_seq IS NULL
      OR i_seq - i_last_seq >= q.queue_ticker_max_count
      OR (i_seq > i_last_seq AND pg_catalog.now() - i_last_time >= q.queue_ticker_max_lag)
      OR pg_catalog.now() - i_last_time >= q.queue_ticker_idle_period
$$;

-- Tick a queue if PGQ's rules say so (_tick_due). Returns the new tick id, or NULL. Run it in its own short transaction: the tick's snapshot is this
-- transaction's. Consumers are woken with NOTIFY pgferry_tick (payload: queue name).
CREATE OR REPLACE FUNCTION pgferry.ticker(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  t pgferry.tick;
  v_seq bigint;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF q.queue_ticker_paused OR q.queue_external_ticker THEN
    RETURN NULL;
  END IF;
  SELECT * INTO t FROM pgferry.tick WHERE tick_queue = q.queue_id ORDER BY tick_id DESC LIMIT 1;
  v_seq := pgferry._event_seq_value(q.queue_event_seq);
  IF v_seq IS NULL THEN
    RAISE EXCEPTION 'queue "%" is damaged: its event id sequence (oid %) is missing', i_queue_name, q.queue_event_seq::oid
      USING ERRCODE = 'PF006', HINT = 'Drop the queue and create it again.';
  END IF;
  IF NOT pgferry._tick_due(q, t.tick_event_seq, t.tick_time, v_seq) THEN
    RETURN NULL;
  END IF;
  RETURN pgferry._make_tick(q, v_seq);
END $$;

-- Tick every queue that needs it: one row per queue that got a tick (tick_id) or whose
-- ticker failed (error, also raised as a WARNING). One queue's failure is rolled back on
-- its own and the other queues still tick. The daemon reads the rows (errors counted per
-- queue in its metrics); ticker() below is the same for pg_cron.
CREATE OR REPLACE FUNCTION pgferry.ticker_all(OUT queue_name text, OUT tick_id bigint, OUT error text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_names text[];
  v_ticks bigint[];
  v_ok boolean;
  v_state text;
BEGIN
  -- Not a fault of one queue: refused as a whole (see _make_tick).
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      pg_catalog.current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  -- The queues due for a tick, in one read: a subtransaction per queue is paid only by the
  -- queues that tick (it would make an idle round several times slower). Should the read
  -- itself fail, every queue is tried on its own.
  BEGIN
    SELECT pg_catalog.array_agg(q.queue_name ORDER BY q.queue_id) INTO v_names
      FROM pgferry.queue q
      LEFT JOIN LATERAL (SELECT t.tick_event_seq, t.tick_time FROM pgferry.tick t
                          WHERE t.tick_queue = q.queue_id ORDER BY t.tick_id DESC LIMIT 1) t ON true
     WHERE NOT q.queue_ticker_paused AND NOT q.queue_external_ticker
       AND pgferry._tick_due(q, t.tick_event_seq, t.tick_time, pgferry._event_seq_value(q.queue_event_seq));
  EXCEPTION WHEN OTHERS THEN
    SELECT pg_catalog.array_agg(q.queue_name ORDER BY q.queue_id) INTO v_names
      FROM pgferry.queue q WHERE NOT q.queue_ticker_paused AND NOT q.queue_external_ticker;
  END;
  v_names := coalesce(v_names, '{}');
  -- All of them in one subtransaction (the usual case: a subtransaction per queue would cost
  -- a subxid each, and more than 64 overflow every snapshot's cache); if any fails, none is
  -- kept and each is tried again on its own.
  BEGIN
    v_ticks := '{}';
    FOREACH queue_name IN ARRAY v_names LOOP
      v_ticks := v_ticks || pgferry.ticker(queue_name);
    END LOOP;
    v_ok := true;
  EXCEPTION WHEN OTHERS THEN
    v_ok := false;
  END;
  IF v_ok THEN
    FOR i IN 1 .. pg_catalog.cardinality(v_names) LOOP
      CONTINUE WHEN v_ticks[i] IS NULL;
      queue_name := v_names[i];
      tick_id := v_ticks[i];
      error := NULL;
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;
  FOREACH queue_name IN ARRAY v_names LOOP
    error := NULL;
    BEGIN
      tick_id := pgferry.ticker(queue_name);
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, error = MESSAGE_TEXT;
      tick_id := NULL;
      RAISE WARNING 'pgferry.ticker: queue % failed: % (SQLSTATE %)', pg_catalog.quote_ident(queue_name), error, v_state
        USING HINT = 'The other queues were ticked. Check this queue with pgferry.get_queue_info().';
    END;
    IF tick_id IS NOT NULL OR error IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END LOOP;
END $$;

-- Tick every queue that needs it. Returns the number of ticks made.
CREATE OR REPLACE FUNCTION pgferry.ticker()
RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_catalog.count(t.tick_id)::int FROM pgferry.ticker_all() t
$$;
