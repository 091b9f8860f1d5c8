-- Whether the session user administers pgferry: a superuser, a member of the role that
-- owns the pgferry schema, or a member of pgferry_admin. session_user, not current_user:
-- inside pgferry's SECURITY DEFINER functions current_user is always the schema owner.
-- PL/pgSQL: planned once per session (see _event_seq_value); consumers ask it per batch.
CREATE OR REPLACE FUNCTION pgferry._session_is_admin()
RETURNS boolean LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (SELECT pg_catalog.pg_has_role(session_user, n.nspowner, 'MEMBER')
                 OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                             WHERE r.rolname = 'pgferry_admin'
                               AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER'))
            FROM pg_catalog.pg_namespace n
           WHERE n.nspname = 'pgferry');
END $$;
