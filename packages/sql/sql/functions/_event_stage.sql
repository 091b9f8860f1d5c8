-- This session's event stage (see event_stage), or NULL when it has none. Refuses a table
-- of that name the schema owner did not create (another role's table, view or trigger in
-- pg_temp would otherwise run with the owner's rights when the stage is read or emptied).
CREATE OR REPLACE FUNCTION pgferry._event_stage()
RETURNS regclass LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_oid oid;
  v_owner oid;
  v_kind "char";
BEGIN
  SELECT c.oid, c.relowner, c.relkind INTO v_oid, v_owner, v_kind
    FROM pg_class c
   WHERE c.relnamespace = pg_my_temp_schema() AND c.relname = 'pgferry_event_stage';
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF v_kind <> 'r' OR v_owner IS DISTINCT FROM (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
    RAISE EXCEPTION 'pg_temp.pgferry_event_stage was not created by pgferry''s event_stage()'
      USING ERRCODE = '42501', HINT = 'Drop it (DROP TABLE pg_temp.pgferry_event_stage) and call pgferry.event_stage() again.';
  END IF;
  RETURN v_oid;
END $$;
