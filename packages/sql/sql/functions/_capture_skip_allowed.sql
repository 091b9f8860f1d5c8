-- May this session write captured tables without being captured (SET pgferry.replica = on)?
-- Only the replicator may: members of pgferry_replicator, the owner of the pgferry schema
-- and superusers. Anyone else who sets it is captured as usual. Asked only when the setting
-- is on, so it costs ordinary writers nothing; the replicator's own writes into captured
-- tables (a branch) ask it at every statement: PL/pgSQL, planned once per session (see
-- _event_seq_value).
CREATE OR REPLACE FUNCTION pgferry._capture_skip_allowed()
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgferry_replicator'
                    AND pg_has_role(session_user, oid, 'MEMBER'))
      OR pg_has_role(session_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'pgferry'), 'MEMBER');
END $$;
