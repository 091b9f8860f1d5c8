-- Tick a queue if PGQ's rules say so: ticker_max_count events since the last tick, or
-- some events and ticker_max_lag elapsed, or ticker_idle_period elapsed. Returns the new
-- tick id, or NULL. Run it in its own short transaction: the tick's snapshot is this
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
  IF t.tick_id IS NOT NULL
     AND v_seq - t.tick_event_seq < q.queue_ticker_max_count
     AND NOT (v_seq > t.tick_event_seq AND pg_catalog.now() - t.tick_time >= q.queue_ticker_max_lag)
     AND pg_catalog.now() - t.tick_time < q.queue_ticker_idle_period THEN
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
  v_state text;
BEGIN
  -- Not a fault of one queue: refused as a whole (see _make_tick).
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      pg_catalog.current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  FOR queue_name IN SELECT q.queue_name FROM pgferry.queue q
                     WHERE NOT q.queue_ticker_paused AND NOT q.queue_external_ticker ORDER BY q.queue_id LOOP
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
