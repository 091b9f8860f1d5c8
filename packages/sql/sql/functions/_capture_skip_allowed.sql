-- May this session write captured tables without being captured (SET pgferry.replica = on)?
-- Only the replicator may: members of pgferry_replicator, the owner of the pgferry schema
-- and superusers. Anyone else who sets it is captured as usual. Asked only when the setting
-- is on, so it costs ordinary writers nothing.
CREATE OR REPLACE FUNCTION pgferry._capture_skip_allowed()
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgferry_replicator'
                    AND pg_has_role(session_user, oid, 'MEMBER'))
      OR pg_has_role(session_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'pgferry'), 'MEMBER')
$$;
