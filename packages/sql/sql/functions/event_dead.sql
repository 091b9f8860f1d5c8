-- Put events of an open batch straight into the dead-letter table (malformed events that
-- no retry can fix), with a reason. Returns the number of events moved.
CREATE OR REPLACE FUNCTION pgferry.event_dead(i_batch_id bigint, i_event_ids bigint[], i_reason text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s pgferry.subscription;
  v_owner int;
  v_count int;
BEGIN
  s := pgferry._open_batch(i_batch_id);
  v_owner := coalesce(s.sub_parent, s.sub_id);
  EXECUTE format(
    'INSERT INTO pgferry.dead_letter (dl_queue, dl_consumer, dl_reason, ev_id, ev_time, ev_txid,
                                      ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
     SELECT $1, $2, $3, ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
            ev_extra1, ev_extra2, ev_extra3, ev_extra4
       FROM (%s) b WHERE ev_id = ANY ($4)', pgferry.batch_event_sql(i_batch_id))
  USING s.sub_queue, (SELECT sub_consumer FROM pgferry.subscription WHERE sub_id = v_owner),
        i_reason, i_event_ids;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
