-- Bulk insert through COPY (what Producer.insertMany does for many events): returns the
-- name of this session's event stage, empty, for
--   COPY <stage> (ev_ord, ev_data) FROM STDIN    -- or (ev_ord, ev_type, ev_data, ev_extra1..4)
-- where ev_ord orders the events (their ids follow it)
-- then pgferry.insert_events_staged(queue[, type]) moves the staged rows into the queue in
-- one statement. The stage is a temporary table the schema owner creates (writers may only
-- INSERT into it; other sessions cannot see it). Returns NULL when the schema owner may not
-- create temporary tables in this database: use insert_events then.
CREATE OR REPLACE FUNCTION pgferry.event_stage()
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pgferry._event_stage() IS NULL THEN
    IF NOT has_database_privilege(current_database(), 'TEMPORARY') THEN
      RETURN NULL;
    END IF;
    CREATE TEMPORARY TABLE pgferry_event_stage (
      ev_ord bigint PRIMARY KEY, ev_type text, ev_data text, ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text);
    GRANT INSERT ON pg_temp.pgferry_event_stage TO PUBLIC;
  ELSIF EXISTS (SELECT FROM pg_temp.pgferry_event_stage) THEN
    -- Left over by a COPY whose insert_events_staged never ran.
    TRUNCATE pg_temp.pgferry_event_stage;
  END IF;
  RETURN 'pg_temp.pgferry_event_stage';
END $$;
