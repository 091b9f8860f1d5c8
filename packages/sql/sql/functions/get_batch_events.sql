-- A batch's events, ordered by ev_id. For large batches use get_batch_cursor() or run
-- batch_event_sql() through a client-side cursor: this form materializes the whole set.
CREATE OR REPLACE FUNCTION pgferry.get_batch_events(
  i_batch_id bigint,
  OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid xid8, OUT ev_retry int,
  OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
  OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY EXECUTE pgferry.batch_event_sql(i_batch_id);
END $$;
