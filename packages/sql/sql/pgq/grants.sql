-- Privileges on schemas pgq and pgq_coop, re-applied on every install, analogous to
-- pgferry's (sql/grants.sql): the pgq functions call pgferry's, which check the same roles
-- and consumer owners, so each pgq function is granted to the pgferry role that may call
-- what it calls.
--
--   pgferry_writer  insert_event, the logutriga/jsontriga/sqltriga triggers (a trigger runs
--                   with the rights of the role writing the table)
--   pgferry_reader  consumers: register, batches, retry, finish, pgq_coop; status; force_tick
--                   (as in PGQ: it only makes the next ticker round tick)
--   pgferry_admin   everything (queue administration, ticker, maintenance)
--
-- PGQ's own roles (pgq_reader, pgq_writer, pgq_admin) become members of pgferry's, so login
-- roles that were granted them on a database that ran PGQ keep working: they are created
-- when missing if the installing role may create roles.
DO $pgq_roles$
DECLARE
  v_can boolean;
  v_pair text[];
BEGIN
  SELECT rolsuper OR rolcreaterole INTO v_can FROM pg_catalog.pg_roles WHERE rolname = current_user;
  FOREACH v_pair SLICE 1 IN ARRAY ARRAY[['pgq_reader', 'pgferry_reader'], ['pgq_writer', 'pgferry_writer'],
                                        ['pgq_admin', 'pgferry_admin']] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_pair[1]) AND v_can THEN
      BEGIN
        EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', v_pair[1]);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
    IF v_can AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_pair[1])
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_pair[2])
       AND NOT pg_catalog.pg_has_role(v_pair[1], v_pair[2], 'MEMBER') THEN
      BEGIN
        EXECUTE pg_catalog.format('GRANT %I TO %I', v_pair[2], v_pair[1]);
      EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'pgferry: % may not grant role % to %; a superuser can, then re-run the install',
          current_user, v_pair[2], v_pair[1];
      END;
    END IF;
  END LOOP;
END $pgq_roles$;

REVOKE ALL ON ALL ROUTINES IN SCHEMA pgq FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgq FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA pgq_coop FROM PUBLIC;
GRANT USAGE ON SCHEMA pgq, pgq_coop TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgq.version(), pgq.quote_fqname(text), pgq_coop.version() TO PUBLIC;

DO $pgq_grants$
DECLARE
  v_role text;
BEGIN
  FOR v_role IN SELECT rolname FROM pg_catalog.pg_roles
                 WHERE rolname IN ('pgferry_reader', 'pgferry_writer', 'pgferry_admin') LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL ROUTINES IN SCHEMA pgq FROM %I', v_role);
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA pgq FROM %I', v_role);
    EXECUTE pg_catalog.format('REVOKE ALL ON ALL ROUTINES IN SCHEMA pgq_coop FROM %I', v_role);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgferry_writer') THEN
    GRANT EXECUTE ON FUNCTION
      pgq.insert_event(text, text, text), pgq.insert_event(text, text, text, text, text, text, text),
      pgq.logutriga(), pgq.jsontriga(), pgq.sqltriga(),
      pgq._triga(text, text, text, regclass, text[], text, text), pgq._triga_args(text[]),
      pgq._triga_value_sql(name, oid, boolean), pgq._triga_eval(regclass, text, text[]),
      pgq._triga_urlencoded(text[], text[], text[]), pgq._triga_json(text[], text[]),
      pgq._triga_sql(text, text[], text[], text[], text[], text[], text[]), pgq._urlencode(text)
    TO pgferry_writer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgferry_reader') THEN
    GRANT EXECUTE ON FUNCTION
      pgq.register_consumer(text, text), pgq.unregister_consumer(text, text),
      pgq.next_batch(text, text), pgq.next_batch_info(text, text),
      pgq.next_batch_custom(text, text, interval, integer, interval),
      pgq._next_batch_custom(text, text, interval, integer, interval),
      pgq.batch_event_sql(bigint), pgq.get_batch_events(bigint),
      pgq.get_batch_cursor(bigint, text, integer, text), pgq.get_batch_cursor(bigint, text, integer),
      pgq.event_retry(bigint, bigint, timestamptz), pgq.event_retry(bigint, bigint, integer),
      pgq.batch_retry(bigint, integer), pgq.finish_batch(bigint), pgq.get_batch_info(bigint),
      pgq.force_tick(text),
      pgq.get_queue_info(), pgq.get_queue_info(text),
      pgq.get_consumer_info(), pgq.get_consumer_info(text), pgq.get_consumer_info(text, text),
      pgq_coop.register_subconsumer(text, text, text), pgq_coop.unregister_subconsumer(text, text, text, integer),
      pgq_coop.next_batch(text, text, text), pgq_coop.next_batch(text, text, text, interval),
      pgq_coop.next_batch_custom(text, text, text, interval, integer, interval),
      pgq_coop.next_batch_custom(text, text, text, interval, integer, interval, interval),
      pgq_coop.finish_batch(bigint)
    TO pgferry_reader;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgferry_reader') THEN
    GRANT SELECT ON pgq.queue, pgq.tick, pgq.consumer, pgq.subscription TO pgferry_reader;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgferry_admin') THEN
    GRANT SELECT, UPDATE ON pgq.queue TO pgferry_admin;
    GRANT SELECT ON pgq.tick, pgq.consumer, pgq.subscription TO pgferry_admin;
    GRANT EXECUTE ON ALL ROUTINES IN SCHEMA pgq TO pgferry_admin;
    GRANT EXECUTE ON ALL ROUTINES IN SCHEMA pgq_coop TO pgferry_admin;
  END IF;
END $pgq_grants$;
