-- The backend holding the subscription lock of $1 (try_subscription_lock), with its client
-- address and application; no row when it is free.
SELECT l.pid, a.client_addr::text AS client, a.application_name AS application, a.backend_start
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND l.classid = pg_catalog.hashtext('pgferry.replicator')::oid AND l.objid = pg_catalog.hashtext($1)::oid AND l.objsubid = 2
