-- Roles and privileges, re-applied on every install (what a role had before is revoked
-- first, so an upgrade also takes away what older versions granted).
--
--   role                what it may do
--   pgferry_writer      insert_event(s) and the staged bulk insert (event_stage,
--                       insert_events_staged) into queues that do not carry captured tables
--   pgferry_reader      register consumers, which it then owns (the session user is
--                       recorded in consumer.co_owner); on its own consumers: take, read,
--                       finish, retry and dead-letter batches, make them cooperative,
--                       unregister them, replay their dead letters; status of every queue
--                       and consumer, dead_letter_list of every consumer; SELECT on
--                       pgferry.event (to stream batch_event_sql() through a client cursor)
--   pgferry_admin       everything, on every queue and consumer: queue administration,
--                       ticker, maintenance, register_consumer_at (rewind or skip),
--                       dead_letter_purge, insert_event(s) into capture-only queues
--   pgferry_replicator  nothing by itself: a session whose session_user is a member may
--                       SET pgferry.replica = on and write captured tables without their
--                       writes being captured (the replication worker's apply session)
--   schema owner,       everything (as pgferry_admin)
--   superuser
--
-- Acting on another role's consumer raises PF007 (pgferry._check_consumer_access). Nobody
-- but the schema owner writes pgferry's tables directly: events go through insert_event(s)
-- (SECURITY DEFINER), so disable_insert, ids, times and txids cannot be bypassed or forged.
-- Roles are cluster-wide: they are created only if the installing role may create roles;
-- otherwise a superuser can create them later and re-run the install to grant.
DO $pgferry_roles$
DECLARE
  v_role text;
  v_can boolean;
BEGIN
  SELECT rolsuper OR rolcreaterole INTO v_can FROM pg_roles WHERE rolname = current_user;
  FOREACH v_role IN ARRAY ARRAY['pgferry_reader', 'pgferry_writer', 'pgferry_admin', 'pgferry_replicator'] LOOP
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

-- ROUTINES: functions and procedures (CALL pgferry.maint()).
REVOKE ALL ON ALL ROUTINES IN SCHEMA pgferry FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgferry FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgferry FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgferry.version() TO PUBLIC;

DO $pgferry_grants$
DECLARE
  v_role text;
BEGIN
  FOR v_role IN SELECT rolname FROM pg_roles
                 WHERE rolname IN ('pgferry_reader', 'pgferry_writer', 'pgferry_admin', 'pgferry_replicator') LOOP
    EXECUTE format('REVOKE ALL ON ALL ROUTINES IN SCHEMA pgferry FROM %I', v_role);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA pgferry FROM %I', v_role);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgferry FROM %I', v_role);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgferry_writer') THEN
    GRANT USAGE ON SCHEMA pgferry TO pgferry_writer;
    GRANT EXECUTE ON FUNCTION pgferry.insert_event(text, text, text, text, text, text, text),
                              pgferry.insert_events(text, text[], text[], text[], text[], text[], text[]),
                              pgferry.event_stage(), pgferry.insert_events_staged(text, text)
       TO pgferry_writer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgferry_reader') THEN
    GRANT USAGE ON SCHEMA pgferry TO pgferry_reader;
    -- Consumers may stream batch_event_sql() through a client-side cursor.
    GRANT SELECT ON pgferry.event TO pgferry_reader;
    GRANT EXECUTE ON FUNCTION
      pgferry.register_consumer(text, text), pgferry.unregister_consumer(text, text),
      pgferry.register_subconsumer(text, text, text), pgferry.unregister_subconsumer(text, text, text),
      pgferry.next_batch(text, text), pgferry.next_batch(text, text, text, interval),
      pgferry.finish_batch(bigint), pgferry.batch_event_sql(bigint), pgferry.get_batch_events(bigint),
      pgferry.get_batch_cursor(bigint, text), pgferry.get_batch_info(bigint),
      pgferry.event_retry(bigint, bigint[], interval), pgferry.event_retry(bigint, bigint, integer),
      pgferry.event_dead(bigint, bigint[], text),
      pgferry.dead_letter_list(text, text, int), pgferry.dead_letter_replay(text, text, bigint[]),
      pgferry.get_queue_info(text), pgferry.get_consumer_info(text, text), pgferry.capture_drift(text)
    TO pgferry_reader;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgferry_admin') THEN
    GRANT USAGE ON SCHEMA pgferry TO pgferry_admin;
    GRANT SELECT ON ALL TABLES IN SCHEMA pgferry TO pgferry_admin;
    GRANT EXECUTE ON ALL ROUTINES IN SCHEMA pgferry TO pgferry_admin;
  END IF;
END $pgferry_grants$;
