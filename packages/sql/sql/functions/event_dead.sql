-- Put events of an open batch straight into the dead-letter table (malformed events that
-- no retry can fix), with a reason. Every id must be an event of the batch (PF003 names
-- those that are not: nothing is done then). Idempotent per consumer: an event this
-- consumer has dead-lettered already is not added twice, and a retry of it the consumer
-- asked for earlier is dropped (dead wins). Returns the number of the given events that
-- are dead letters now.
CREATE OR REPLACE FUNCTION pgferry.event_dead(i_batch_id bigint, i_event_ids bigint[], i_reason text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  v_owner int;
  v_count int;
  v_missing bigint[];
BEGIN
  PERFORM pgferry._check_event_ids(i_batch_id, i_event_ids);
  s := pgferry._open_batch(i_batch_id);
  v_owner := coalesce(s.sub_parent, s.sub_id);
  EXECUTE pg_catalog.format(
    'WITH ev AS MATERIALIZED (SELECT * FROM (%s) b WHERE ev_id = ANY ($4)),
          dead AS (
            INSERT INTO pgferry.dead_letter (dl_queue, dl_consumer, dl_reason, ev_id, ev_time, ev_txid,
                                             ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
            SELECT $1, $2, $3, ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
                   ev_extra1, ev_extra2, ev_extra3, ev_extra4
              FROM ev
            ON CONFLICT DO NOTHING),
          unretried AS (
            DELETE FROM pgferry.retry_queue r USING ev WHERE r.ev_owner = $5 AND r.ev_id = ev.ev_id)
     SELECT (SELECT pg_catalog.count(*) FROM ev),
            ARRAY(SELECT x FROM pg_catalog.unnest($4) AS x WHERE x NOT IN (SELECT ev_id FROM ev) ORDER BY x)',
    pgferry.batch_event_sql(i_batch_id))
  INTO v_count, v_missing
  USING s.sub_queue, (SELECT sub_consumer FROM pgferry.subscription WHERE sub_id = v_owner),
        i_reason, i_event_ids, v_owner;
  PERFORM pgferry._refuse_missing_events(i_batch_id, v_missing);
  RETURN v_count;
END $$;
