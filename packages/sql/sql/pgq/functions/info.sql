-- Status in PGQ's columns. pgferry.get_queue_info and get_consumer_info say more (rotation
-- blockers, retries, dead letters, pending_age).

-- Every queue, or one (an unknown name: no row). ev_per_sec: over the queue's last 20 ticks
-- (tick ids are drawn from one sequence for every queue).
CREATE OR REPLACE FUNCTION pgq.get_queue_info(
  i_queue_name text,
  OUT queue_name text, OUT queue_ntables integer, OUT queue_cur_table integer,
  OUT queue_rotation_period interval, OUT queue_switch_time timestamptz,
  OUT queue_external_ticker boolean, OUT queue_ticker_paused boolean,
  OUT queue_ticker_max_count integer, OUT queue_ticker_max_lag interval,
  OUT queue_ticker_idle_period interval, OUT ticker_lag interval,
  OUT ev_per_sec double precision, OUT ev_new bigint, OUT last_tick_id bigint)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_queue_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pgferry.queue q WHERE q.queue_name = i_queue_name) THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT i.queue_name, i.queue_ntables, i.queue_cur_table, i.queue_rotation_period, i.queue_switch_time,
           i.queue_external_ticker, i.queue_ticker_paused, i.queue_ticker_max_count, i.queue_ticker_max_lag,
           i.queue_ticker_idle_period, i.ticker_lag, r.per_sec, i.ev_new, i.last_tick_id
      FROM pgferry.get_queue_info(i_queue_name) i
      JOIN pgferry.queue q ON q.queue_name = i.queue_name
      LEFT JOIN LATERAL (
        SELECT (pg_catalog.max(t.tick_event_seq) - pg_catalog.min(t.tick_event_seq))::double precision
               / NULLIF(extract(epoch FROM pg_catalog.max(t.tick_time) - pg_catalog.min(t.tick_time)), 0)
                 AS per_sec
          FROM (SELECT x.tick_event_seq, x.tick_time FROM pgferry.tick x
                 WHERE x.tick_queue = q.queue_id ORDER BY x.tick_id DESC LIMIT 21) t) r ON true
     ORDER BY i.queue_name;
END $$;

CREATE OR REPLACE FUNCTION pgq.get_queue_info(
  OUT queue_name text, OUT queue_ntables integer, OUT queue_cur_table integer,
  OUT queue_rotation_period interval, OUT queue_switch_time timestamptz,
  OUT queue_external_ticker boolean, OUT queue_ticker_paused boolean,
  OUT queue_ticker_max_count integer, OUT queue_ticker_max_lag interval,
  OUT queue_ticker_idle_period interval, OUT ticker_lag interval,
  OUT ev_per_sec double precision, OUT ev_new bigint, OUT last_tick_id bigint)
RETURNS SETOF record LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM pgq.get_queue_info(NULL::text)
$$;

-- Every consumer, a queue's, or one (unknown names: no row). pending_events: PGQ's
-- estimate, event ids between the consumer's tick and the queue's last tick.
-- Sub-consumers of a cooperative consumer are listed as "consumer#sub".
CREATE OR REPLACE FUNCTION pgq.get_consumer_info(
  i_queue_name text, i_consumer_name text,
  OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
  OUT last_tick bigint, OUT current_batch bigint, OUT next_tick bigint, OUT pending_events bigint)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_queue_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pgferry.queue q WHERE q.queue_name = i_queue_name) THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT i.queue_name, i.consumer_name, i.lag, i.last_seen, i.last_tick, i.current_batch, i.next_tick,
           (SELECT top.tick_event_seq FROM pgferry.tick top
             WHERE top.tick_queue = q.queue_id ORDER BY top.tick_id DESC LIMIT 1) - pos.tick_event_seq
      FROM pgferry.get_consumer_info(i_queue_name, i_consumer_name) i
      JOIN pgferry.queue q ON q.queue_name = i.queue_name
      LEFT JOIN pgferry.tick pos ON pos.tick_queue = q.queue_id AND pos.tick_id = i.last_tick
     WHERE i_consumer_name IS NULL OR i.consumer_name = i_consumer_name
     ORDER BY 1, 2;
END $$;

CREATE OR REPLACE FUNCTION pgq.get_consumer_info(
  i_queue_name text,
  OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
  OUT last_tick bigint, OUT current_batch bigint, OUT next_tick bigint, OUT pending_events bigint)
RETURNS SETOF record LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM pgq.get_consumer_info(i_queue_name, NULL)
$$;

CREATE OR REPLACE FUNCTION pgq.get_consumer_info(
  OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
  OUT last_tick bigint, OUT current_batch bigint, OUT next_tick bigint, OUT pending_events bigint)
RETURNS SETOF record LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM pgq.get_consumer_info(NULL, NULL)
$$;
