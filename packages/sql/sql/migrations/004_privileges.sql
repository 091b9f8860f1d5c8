-- Least privilege (issue 8, items 4 and 11).

-- A queue that carries captured tables accepts events from insert_event(s) only from
-- pgferry_admin or the schema owner: row events in it are applied to replicas, so a
-- writer must not be able to forge them.
ALTER TABLE pgferry.queue ADD COLUMN queue_capture_only boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pgferry.queue.queue_capture_only IS
  'insert_event(s) refused (PF007) unless the session user is pgferry_admin or the schema owner';

-- The role that registered a consumer owns it: only members of that role and of
-- pgferry_admin may take, finish, retry or dead-letter its batches, unregister it or make
-- it cooperative (see pgferry._check_consumer_access). Consumers registered before this
-- migration belong to the schema owner.
ALTER TABLE pgferry.consumer ADD COLUMN co_owner name;
UPDATE pgferry.consumer
   SET co_owner = (SELECT r.rolname FROM pg_catalog.pg_namespace n
                     JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
                    WHERE n.nspname = 'pgferry');
ALTER TABLE pgferry.consumer ALTER COLUMN co_owner SET DEFAULT session_user,
                             ALTER COLUMN co_owner SET NOT NULL;

-- Writers no longer draw event ids themselves (insert_event runs as the owner).
DROP FUNCTION IF EXISTS pgferry._grant_queue_objects(int);
