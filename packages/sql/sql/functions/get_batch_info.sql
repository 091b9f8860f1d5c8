-- What a batch covers: its queue and consumer, its ticks and their times, its lag, and an
-- estimate of its size (event ids drawn between the ticks).
CREATE OR REPLACE FUNCTION pgferry.get_batch_info(
  i_batch_id bigint,
  OUT queue_name text, OUT consumer_name text, OUT batch_start timestamptz, OUT batch_end timestamptz,
  OUT prev_tick_id bigint, OUT tick_id bigint, OUT lag interval,
  OUT seq_start bigint, OUT seq_end bigint, OUT estimated_events bigint)
RETURNS record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
BEGIN
  s := pgferry._open_batch(i_batch_id);
  SELECT q.queue_name, c.co_name, t1.tick_time, t2.tick_time, t1.tick_id, t2.tick_id,
         greatest(pg_catalog.now() - t2.tick_time, interval '0'), t1.tick_event_seq, t2.tick_event_seq,
         greatest(t2.tick_event_seq - t1.tick_event_seq, 0)
    INTO queue_name, consumer_name, batch_start, batch_end, prev_tick_id, tick_id,
         lag, seq_start, seq_end, estimated_events
    FROM pgferry.queue q
    JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
    JOIN pgferry.tick t1 ON t1.tick_queue = q.queue_id AND t1.tick_id = s.sub_last_tick
    JOIN pgferry.tick t2 ON t2.tick_queue = q.queue_id AND t2.tick_id = s.sub_next_tick
   WHERE q.queue_id = s.sub_queue;
  IF NOT FOUND THEN
    -- See batch_event_sql: the batch's ticks are kept, this snapshot is older than a rotation.
    RAISE EXCEPTION 'the ticks of batch % are not visible to this transaction', i_batch_id
      USING ERRCODE = 'serialization_failure',
            HINT = 'The tick partitions rotated after this transaction''s snapshot was taken; retry the transaction.';
  END IF;
END $$;
