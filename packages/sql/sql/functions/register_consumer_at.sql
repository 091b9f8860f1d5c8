-- Subscribe a consumer at a given tick, or move (rewind or skip) a registered consumer
-- there. The tick must still exist and its events must still be held: a tick older than
-- the last rotation's horizon is refused. Returns 1.
CREATE OR REPLACE FUNCTION pgferry.register_consumer_at(i_queue_name text, i_consumer_name text, i_tick_id bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  t pgferry.tick;
  v_co int;
  s pgferry.subscription;
BEGIN
  PERFORM pgferry._check_name('consumer', i_consumer_name);
  q := pgferry._queue(i_queue_name);
  SELECT * INTO t FROM pgferry.tick WHERE tick_queue = q.queue_id AND tick_id = i_tick_id;
  IF NOT FOUND AND i_tick_id > (SELECT max(tick_id) FROM pgferry.tick WHERE tick_queue = q.queue_id) THEN
    RAISE EXCEPTION 'queue "%" has no tick % yet (its last tick is %)', i_queue_name, i_tick_id,
                    (SELECT max(tick_id) FROM pgferry.tick WHERE tick_queue = q.queue_id)
      USING ERRCODE = 'PF006', HINT = 'Register at a tick the queue has made.';
  END IF;
  IF NOT FOUND OR pg_snapshot_xmin(t.tick_snapshot) < q.queue_data_horizon THEN
    RAISE EXCEPTION 'queue "%" no longer holds the events after tick %', i_queue_name, i_tick_id
      USING ERRCODE = 'PF006',
            HINT = format('The oldest tick it can start from is %s.',
                          coalesce((SELECT min(tick_id)::text FROM pgferry.tick
                                     WHERE tick_queue = q.queue_id
                                       AND pg_snapshot_xmin(tick_snapshot) >= q.queue_data_horizon), 'none'));
  END IF;
  v_co := pgferry._consumer_id(i_consumer_name);
  PERFORM 1 FROM pgferry.subscription_reg WHERE sub_queue = q.queue_id AND sub_consumer = v_co FOR UPDATE;
  IF NOT FOUND THEN
    IF pgferry._subscribe(q.queue_id, v_co, NULL, i_tick_id) = 1 THEN
      RETURN 1;
    END IF;
    -- registered concurrently: move it
    PERFORM 1 FROM pgferry.subscription_reg WHERE sub_queue = q.queue_id AND sub_consumer = v_co FOR UPDATE;
  END IF;
  s := pgferry._subscription_state((SELECT sub_id FROM pgferry.subscription_reg
                                     WHERE sub_queue = q.queue_id AND sub_consumer = v_co));
  IF s.sub_batch IS NOT NULL OR EXISTS (SELECT 1 FROM pgferry.subscription
                                         WHERE sub_parent = s.sub_id AND sub_batch IS NOT NULL) THEN
    RAISE EXCEPTION 'consumer "%" on queue "%" has an open batch', i_consumer_name, i_queue_name
      USING ERRCODE = 'PF006', HINT = 'Finish the batch (or stop the consumer) before moving it.';
  END IF;
  s.sub_last_tick := i_tick_id;
  s.sub_active := now();
  PERFORM pgferry._set_position(s);
  RETURN 1;
END $$;
