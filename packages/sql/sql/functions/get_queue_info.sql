-- Queue status (all queues, or one): settings, current table, rotation state, ticker lag,
-- events since the last tick, and what keeps the queue from rotating (see
-- _rotation_blocker): rotation_blocked_by names it (a consumer, 'pid N', ...) once the
-- rotation period has passed; rotation_blocker_kind says what it is ('not_due' before), with
-- the session's pid, how long it has been in the way, a sentence and a hint to act on.
-- A queue whose figures cannot be read (a damaged queue) is still listed, with the error in
-- status_error: one bad queue never hides the others.
CREATE OR REPLACE FUNCTION pgferry.get_queue_info(
  i_queue_name text DEFAULT NULL,
  OUT queue_name text, OUT queue_ntables int, OUT queue_cur_table int,
  OUT queue_rotation_period interval, OUT queue_switch_time timestamptz,
  OUT queue_ticker_max_count int, OUT queue_ticker_max_lag interval, OUT queue_ticker_idle_period interval,
  OUT queue_ticker_paused boolean, OUT queue_external_ticker boolean, OUT queue_disable_insert boolean,
  OUT queue_max_retries int, OUT ticker_lag interval, OUT last_tick_id bigint, OUT event_seq bigint,
  OUT ev_new bigint, OUT consumers int, OUT retry_pending bigint, OUT dead_letters bigint,
  OUT rotation_blocked_by text, OUT rotation_blocker_kind text, OUT rotation_blocker_pid int,
  OUT rotation_blocker_age interval, OUT rotation_blocker_detail text, OUT rotation_blocker_hint text,
  OUT status_error text)
RETURNS SETOF record LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  t pgferry.tick;
  b record;
BEGIN
  IF i_queue_name IS NOT NULL THEN
    PERFORM pgferry._queue(i_queue_name);
  END IF;
  FOR q IN SELECT * FROM pgferry.queue
            WHERE i_queue_name IS NULL OR pgferry.queue.queue_name = i_queue_name ORDER BY queue_name LOOP
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
    ticker_lag := NULL; last_tick_id := NULL; event_seq := NULL; ev_new := NULL;
    consumers := NULL; retry_pending := NULL; dead_letters := NULL;
    rotation_blocked_by := NULL; rotation_blocker_kind := NULL; rotation_blocker_pid := NULL;
    rotation_blocker_age := NULL; rotation_blocker_detail := NULL; rotation_blocker_hint := NULL;
    status_error := NULL;
    BEGIN
      SELECT * INTO t FROM pgferry.tick WHERE tick_queue = q.queue_id ORDER BY tick_id DESC LIMIT 1;
      -- (Never negative: a tick's time is read after its snapshot, and may follow this
      -- transaction's start by a moment.)
      ticker_lag := greatest(pg_catalog.now() - t.tick_time, interval '0');
      last_tick_id := t.tick_id;
      SELECT pg_catalog.count(*) INTO consumers FROM pgferry.subscription s WHERE s.sub_queue = q.queue_id AND s.sub_parent IS NULL;
      SELECT pg_catalog.count(*) INTO retry_pending FROM pgferry.retry_queue r WHERE r.ev_queue = q.queue_id;
      SELECT pg_catalog.count(*) INTO dead_letters FROM pgferry.dead_letter d WHERE d.dl_queue = q.queue_id;
      event_seq := pgferry._event_seq_value(q.queue_event_seq);
      ev_new := event_seq - t.tick_event_seq;
      IF event_seq IS NULL THEN
        status_error := pg_catalog.format('the event id sequence (oid %s) is missing', q.queue_event_seq::oid);
      END IF;
      b := pgferry._rotation_blocker(q);
      rotation_blocker_kind := b.kind;
      rotation_blocked_by := CASE WHEN b.kind <> 'not_due' THEN b.blocked_by END;
      rotation_blocker_pid := b.pid;
      rotation_blocker_age := b.age;
      rotation_blocker_detail := b.detail;
      rotation_blocker_hint := b.hint;
    EXCEPTION WHEN OTHERS THEN
      status_error := coalesce(status_error || '; ', '') || SQLERRM;
    END;
    RETURN NEXT;
  END LOOP;
END $$;
