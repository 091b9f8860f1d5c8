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
  IF t.tick_id IS NOT NULL
     AND v_seq - t.tick_event_seq < q.queue_ticker_max_count
     AND NOT (v_seq > t.tick_event_seq AND now() - t.tick_time >= q.queue_ticker_max_lag)
     AND now() - t.tick_time < q.queue_ticker_idle_period THEN
    RETURN NULL;
  END IF;
  RETURN pgferry._make_tick(q, v_seq);
END $$;

-- Tick every queue that needs it. Returns the number of ticks made.
CREATE OR REPLACE FUNCTION pgferry.ticker()
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_name text;
  v_count int := 0;
BEGIN
  FOR v_name IN SELECT queue_name FROM pgferry.queue
                 WHERE NOT queue_ticker_paused AND NOT queue_external_ticker ORDER BY queue_id LOOP
    IF pgferry.ticker(v_name) IS NOT NULL THEN
      v_count := v_count + 1;
    END IF;
  END LOOP;
  RETURN v_count;
END $$;
