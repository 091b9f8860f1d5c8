-- Roles and privileges, re-applied on every install. Three roles:
--   pgferry_writer: insert events (insert_event, insert_events)
--   pgferry_reader: consume (register, batches, retry, dead letters of its own, status)
--   pgferry_admin:  everything, including queue administration, ticker and maintenance
-- Roles are cluster-wide: they are created only if the installing role may create roles;
-- otherwise a superuser can create them later and re-run the install to grant.
DO $pgferry_roles$
DECLARE
  v_role text;
  v_can boolean;
BEGIN
  SELECT rolsuper OR rolcreaterole INTO v_can FROM pg_roles WHERE rolname = current_user;
  FOREACH v_role IN ARRAY ARRAY['pgferry_reader', 'pgferry_writer', 'pgferry_admin'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
      IF v_can THEN
        -- The install lock is per database: an install into another database of the same
        -- cluster may create the role at the same moment.
        BEGIN
          EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
          NULL;
        END;
      ELSE
        RAISE NOTICE 'pgferry: role % does not exist and % cannot create roles; skipping its grants', v_role, current_user;
      END IF;
    END IF;
  END LOOP;
END $pgferry_roles$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgferry FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgferry.version() TO PUBLIC;

DO $pgferry_grants$
DECLARE
  v_queue int;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgferry_writer') THEN
    GRANT USAGE ON SCHEMA pgferry TO pgferry_writer;
    -- insert_event runs as the caller: grant exactly what its statements touch.
    GRANT SELECT ON pgferry.queue TO pgferry_writer;
    GRANT INSERT ON pgferry.event TO pgferry_writer;
    GRANT EXECUTE ON FUNCTION pgferry.insert_event(text, text, text, text, text, text, text),
                              pgferry.insert_events(text, text[], text[], text[], text[], text[], text[]),
                              pgferry._queue(text)
       TO pgferry_writer;
    FOR v_queue IN SELECT queue_id FROM pgferry.queue LOOP
      PERFORM pgferry._grant_queue_objects(v_queue);
    END LOOP;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgferry_reader') THEN
    GRANT USAGE ON SCHEMA pgferry TO pgferry_reader;
    -- Consumers may stream batch_event_sql() through a client-side cursor.
    GRANT SELECT ON pgferry.event TO pgferry_reader;
    GRANT EXECUTE ON FUNCTION
      pgferry.register_consumer(text, text), pgferry.register_subconsumer(text, text, text),
      pgferry.unregister_subconsumer(text, text, text),
      pgferry.next_batch(text, text), pgferry.next_batch(text, text, text, interval),
      pgferry.finish_batch(bigint), pgferry.batch_event_sql(bigint), pgferry.get_batch_events(bigint),
      pgferry.get_batch_cursor(bigint, text), pgferry.get_batch_info(bigint),
      pgferry.event_retry(bigint, bigint[], interval), pgferry.event_retry(bigint, bigint, integer),
      pgferry.event_dead(bigint, bigint[], text), pgferry.dead_letter_list(text, text, int),
      pgferry.get_queue_info(text), pgferry.get_consumer_info(text, text)
    TO pgferry_reader;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgferry_admin') THEN
    GRANT USAGE ON SCHEMA pgferry TO pgferry_admin;
    GRANT SELECT ON ALL TABLES IN SCHEMA pgferry TO pgferry_admin;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgferry TO pgferry_admin;
    GRANT INSERT ON pgferry.event TO pgferry_admin;
  END IF;
END $pgferry_grants$;
