-- Queue status (all queues, or one): settings, current table, rotation state, ticker lag,
-- events since the last tick, and the consumer blocking rotation, if any.
CREATE OR REPLACE FUNCTION pgferry.get_queue_info(
  i_queue_name text DEFAULT NULL,
  OUT queue_name text, OUT queue_ntables int, OUT queue_cur_table int,
  OUT queue_rotation_period interval, OUT queue_switch_time timestamptz,
  OUT queue_ticker_max_count int, OUT queue_ticker_max_lag interval, OUT queue_ticker_idle_period interval,
  OUT queue_ticker_paused boolean, OUT queue_external_ticker boolean, OUT queue_disable_insert boolean,
  OUT queue_max_retries int, OUT ticker_lag interval, OUT last_tick_id bigint, OUT event_seq bigint,
  OUT ev_new bigint, OUT consumers int, OUT retry_pending bigint, OUT dead_letters bigint,
  OUT rotation_blocked_by text)
RETURNS SETOF record LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  t pgferry.tick;
BEGIN
  IF i_queue_name IS NOT NULL THEN
    PERFORM pgferry._queue(i_queue_name);
  END IF;
  FOR q IN SELECT * FROM pgferry.queue
            WHERE i_queue_name IS NULL OR pgferry.queue.queue_name = i_queue_name ORDER BY queue_name LOOP
    SELECT * INTO t FROM pgferry.tick WHERE tick_queue = q.queue_id ORDER BY tick_id DESC LIMIT 1;
    queue_name := q.queue_name;
    queue_ntables := q.queue_ntables;
    queue_cur_table := q.queue_cur_table;
    queue_rotation_period := q.queue_rotation_period;
    queue_switch_time := q.queue_switch_time;
    queue_ticker_max_count := q.queue_ticker_max_count;
    queue_ticker_max_lag := q.queue_ticker_max_lag;
    queue_ticker_idle_period := q.queue_ticker_idle_period;
    queue_ticker_paused := q.queue_ticker_paused;
    queue_external_ticker := q.queue_external_ticker;
    queue_disable_insert := q.queue_disable_insert;
    queue_max_retries := q.queue_max_retries;
    ticker_lag := now() - t.tick_time;
    last_tick_id := t.tick_id;
    event_seq := pgferry._event_seq_value(q.queue_event_seq);
    ev_new := event_seq - t.tick_event_seq;
    SELECT count(*) INTO consumers FROM pgferry.subscription s WHERE s.sub_queue = q.queue_id AND s.sub_parent IS NULL;
    SELECT count(*) INTO retry_pending FROM pgferry.retry_queue r WHERE r.ev_queue = q.queue_id;
    SELECT count(*) INTO dead_letters FROM pgferry.dead_letter d WHERE d.dl_queue = q.queue_id;
    rotation_blocked_by := CASE WHEN now() >= q.queue_switch_time + q.queue_rotation_period
                                THEN pgferry._rotation_blocked_by(q) END;
    RETURN NEXT;
  END LOOP;
END $$;
