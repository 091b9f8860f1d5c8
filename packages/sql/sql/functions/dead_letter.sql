-- Dead letters of a queue (optionally of one consumer), oldest first.
CREATE OR REPLACE FUNCTION pgferry.dead_letter_list(i_queue_name text, i_consumer_name text DEFAULT NULL,
                                                    i_limit int DEFAULT 100)
RETURNS TABLE (dl_id bigint, consumer_name text, dl_time timestamptz, dl_reason text, ev_id bigint,
               ev_time timestamptz, ev_txid xid8, ev_retry int, ev_type text, ev_data text,
               ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  RETURN QUERY
    SELECT d.dl_id, c.co_name, d.dl_time, d.dl_reason, d.ev_id, d.ev_time, d.ev_txid, d.ev_retry,
           d.ev_type, d.ev_data, d.ev_extra1, d.ev_extra2, d.ev_extra3, d.ev_extra4
      FROM pgferry.dead_letter d JOIN pgferry.consumer c ON c.co_id = d.dl_consumer
     WHERE d.dl_queue = q.queue_id AND (i_consumer_name IS NULL OR c.co_name = i_consumer_name)
     ORDER BY d.dl_id
     LIMIT i_limit;
END $$;

-- Send dead letters back to their consumer (all of the consumer's, or the given ids): they
-- come again in its next batches, with their retry count reset. Returns how many.
CREATE OR REPLACE FUNCTION pgferry.dead_letter_replay(i_queue_name text, i_consumer_name text,
                                                      i_dl_ids bigint[] DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  v_count int;
BEGIN
  s := pgferry._subscription(i_queue_name, i_consumer_name);
  WITH moved AS (
    DELETE FROM pgferry.dead_letter d
     WHERE d.dl_queue = s.sub_queue AND d.dl_consumer = s.sub_consumer
       AND (i_dl_ids IS NULL OR d.dl_id = ANY (i_dl_ids))
    RETURNING d.*)
  INSERT INTO pgferry.retry_queue (ev_retry_after, ev_queue, ev_owner, ev_id, ev_time, ev_txid, ev_retry,
                                   ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
  -- One row per event even if an older install dead-lettered it twice (ON CONFLICT DO
  -- UPDATE cannot touch a row twice in one statement).
  SELECT DISTINCT ON (m.ev_id) pg_catalog.now(), s.sub_queue, s.sub_id, m.ev_id, m.ev_time, m.ev_txid, 0, m.ev_type,
         m.ev_data, m.ev_extra1, m.ev_extra2, m.ev_extra3, m.ev_extra4
    FROM moved m
   ORDER BY m.ev_id, m.dl_id DESC
  ON CONFLICT (ev_owner, ev_id) DO UPDATE SET ev_retry_after = pg_catalog.now(), ev_retry = 0;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;

-- Delete dead letters of a queue (of one consumer, or older than an age; both NULL: all of
-- the queue's). A negative age is refused (it would mean "older than the future": all).
-- Returns how many.
CREATE OR REPLACE FUNCTION pgferry.dead_letter_purge(i_queue_name text, i_consumer_name text DEFAULT NULL,
                                                     i_older_than interval DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_count int;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF i_older_than < interval '0' THEN
    RAISE EXCEPTION 'dead_letter_purge on queue "%": invalid age %', i_queue_name, i_older_than
      USING ERRCODE = 'PF003',
            HINT = 'Give a positive interval (''7 days''), or NULL for every dead letter of the queue (or of the consumer).';
  END IF;
  DELETE FROM pgferry.dead_letter d
   USING pgferry.consumer c
   WHERE c.co_id = d.dl_consumer AND d.dl_queue = q.queue_id
     AND (i_consumer_name IS NULL OR c.co_name = i_consumer_name)
     AND (i_older_than IS NULL OR d.dl_time < pg_catalog.now() - i_older_than);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
