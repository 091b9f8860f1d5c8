-- Hand events of an open batch back to their consumer, to come again after i_delay (to
-- this consumer only). An event already retried max_retries times goes to the dead-letter
-- table instead. Call it in the batch's transaction, before finish_batch. Every id must be
-- an event of the batch (PF003 names those that are not: nothing is done then).
-- Returns the number of events handed back or dead-lettered.
CREATE OR REPLACE FUNCTION pgferry.event_retry(i_batch_id bigint, i_event_ids bigint[], i_delay interval)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  q pgferry.queue;
  v_owner int;
  v_retried int;
  v_dead int;
  v_missing bigint[];
BEGIN
  -- Bounded so that now() + delay can never overflow a timestamp.
  IF i_delay IS NULL OR i_delay < interval '0' OR i_delay > interval '1 year' THEN
    RAISE EXCEPTION 'invalid retry delay: %', coalesce(i_delay::text, 'NULL')
      USING ERRCODE = 'PF003', HINT = 'Expected an interval from 0 to 1 year.';
  END IF;
  PERFORM pgferry._check_event_ids(i_batch_id, i_event_ids);
  s := pgferry._open_batch(i_batch_id);
  SELECT * INTO q FROM pgferry.queue WHERE queue_id = s.sub_queue;
  v_owner := coalesce(s.sub_parent, s.sub_id);
  EXECUTE pg_catalog.format(
    'WITH ev AS MATERIALIZED (SELECT * FROM (%s) b WHERE ev_id = ANY ($1)),
          retried AS (
            INSERT INTO pgferry.retry_queue (ev_retry_after, ev_queue, ev_owner, ev_id, ev_time, ev_txid,
                                             ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
            SELECT pg_catalog.now() + $2, $3, $4, ev_id, ev_time, ev_txid, coalesce(ev_retry, 0) + 1,
                   ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4
              FROM ev WHERE coalesce(ev_retry, 0) < $5
            ON CONFLICT DO NOTHING RETURNING 1),
          dead AS (
            INSERT INTO pgferry.dead_letter (dl_queue, dl_consumer, dl_reason, ev_id, ev_time, ev_txid,
                                             ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
            SELECT $3, $6, pg_catalog.format(''retried %%s times'', coalesce(ev_retry, 0)), ev_id, ev_time, ev_txid,
                   ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4
              FROM ev WHERE coalesce(ev_retry, 0) >= $5
            ON CONFLICT DO NOTHING RETURNING 1)
     SELECT (SELECT pg_catalog.count(*) FROM retried), (SELECT pg_catalog.count(*) FROM dead),
            ARRAY(SELECT x FROM pg_catalog.unnest($1) AS x WHERE x NOT IN (SELECT ev_id FROM ev) ORDER BY x)',
    pgferry.batch_event_sql(i_batch_id))
  INTO v_retried, v_dead, v_missing
  USING i_event_ids, i_delay, q.queue_id, v_owner, q.queue_max_retries,
        (SELECT sub_consumer FROM pgferry.subscription WHERE sub_id = v_owner);
  PERFORM pgferry._refuse_missing_events(i_batch_id, v_missing);
  RETURN v_retried + v_dead;
END $$;

-- PGQ's form: one event, delay in seconds.
CREATE OR REPLACE FUNCTION pgferry.event_retry(i_batch_id bigint, i_event_id bigint, i_retry_seconds integer)
RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT pgferry.event_retry(i_batch_id, ARRAY[i_event_id], pg_catalog.make_interval(secs => i_retry_seconds))
$$;
