-- The one check of who may act on a consumer (take, finish, retry or dead-letter its
-- batches, unregister it, make it cooperative, replay its dead letters): members of the
-- role that registered it (co_owner) and administrators (_session_is_admin). Called from
-- the choke points every such operation goes through (_subscription, _open_batch, the
-- lock-free idle paths of next_batch, finish_batch). Raises PF007 otherwise.
CREATE OR REPLACE FUNCTION pgferry._check_consumer_access(i_consumer int)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_name text;
  v_owner name;
BEGIN
  SELECT co_name, co_owner INTO v_name, v_owner FROM pgferry.consumer WHERE co_id = i_consumer;
  IF EXISTS (SELECT 1 FROM pg_roles r
              WHERE r.rolname = v_owner AND pg_has_role(session_user, r.oid, 'MEMBER'))
     OR pgferry._session_is_admin() THEN
    RETURN;
  END IF;
  RAISE EXCEPTION 'permission denied for consumer "%": it belongs to role "%"', v_name, v_owner
    USING ERRCODE = 'PF007',
          HINT = format('Connect as a member of role %I (the role that registered it) or of pgferry_admin.', v_owner);
END $$;
