-- Consumer status (all, one queue's, or one consumer's): lag in time and in ticks, pending
-- events (estimated from event ids drawn since its position), last seen, open batch.
-- lag is PGQ's: the age of the consumer's position tick, which keeps growing on a quiet
-- queue between idle ticks even when nothing is pending. pending_age is the age of the
-- oldest event the consumer has yet to consume, 0 when none is pending (see
-- _pending_since: counted from the first tick after its position whose batch holds an
-- event, so it is at most one tick interval short; events not ticked yet do not count).
CREATE OR REPLACE FUNCTION pgferry.get_consumer_info(
  i_queue_name text DEFAULT NULL, i_consumer_name text DEFAULT NULL,
  OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
  OUT last_tick bigint, OUT ticks_behind bigint, OUT pending_events bigint,
  OUT current_batch bigint, OUT next_tick bigint, OUT batch_age interval,
  OUT is_subconsumer boolean, OUT retry_pending bigint, OUT dead_letters bigint,
  OUT pending_age interval)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_queue_name IS NOT NULL THEN
    PERFORM pgferry._queue(i_queue_name);
  END IF;
  RETURN QUERY
    SELECT q.queue_name, c.co_name,
           greatest(pg_catalog.now() - coalesce(t.tick_time, pt.tick_time), interval '0'),
           now() - s.sub_active,
           coalesce(s.sub_last_tick, p.sub_last_tick),
           (SELECT count(*) FROM pgferry.tick x
             WHERE x.tick_queue = q.queue_id AND x.tick_id > coalesce(s.sub_last_tick, p.sub_last_tick)),
           greatest(pgferry._event_seq_value(q.queue_event_seq) - coalesce(t.tick_event_seq, pt.tick_event_seq), 0),
           s.sub_batch, s.sub_next_tick,
           -- A batch opened after this statement's transaction began is not older than 0.
           greatest(now() - s.sub_batch_start, interval '0'),
           s.sub_parent IS NOT NULL,
           (SELECT count(*) FROM pgferry.retry_queue r WHERE r.ev_owner = s.sub_id),
           (SELECT count(*) FROM pgferry.dead_letter d WHERE d.dl_queue = q.queue_id AND d.dl_consumer = s.sub_consumer),
           coalesce(now() - pgferry._pending_since(q.queue_id, coalesce(s.sub_last_tick, p.sub_last_tick)), interval '0')
      FROM pgferry.subscription s
      JOIN pgferry.queue q ON q.queue_id = s.sub_queue
      JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
      LEFT JOIN pgferry.subscription p ON p.sub_id = s.sub_parent
      LEFT JOIN pgferry.tick t ON t.tick_queue = q.queue_id AND t.tick_id = s.sub_last_tick
      LEFT JOIN pgferry.tick pt ON pt.tick_queue = q.queue_id AND pt.tick_id = p.sub_last_tick
     WHERE (i_queue_name IS NULL OR q.queue_name = i_queue_name)
       AND (i_consumer_name IS NULL OR c.co_name = i_consumer_name
            -- its sub-consumers; not LIKE: "_" is allowed in names and is a LIKE wildcard
            OR (s.sub_parent IS NOT NULL AND left(c.co_name, length(i_consumer_name) + 1) = i_consumer_name || '#'))
     ORDER BY q.queue_name, c.co_name;
END $$;
