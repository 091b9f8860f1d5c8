-- All maintenance in one call, each operation committed on its own (rotation's two phases
-- must be separate transactions). For pg_cron or any scheduler without pgferry's daemon:
--   SELECT cron.schedule('pgferry-ticker', '1 seconds', 'SELECT pgferry.ticker()');
--   SELECT cron.schedule('pgferry-maint', '30 seconds', 'CALL pgferry.maint()');
-- Must be called outside an explicit transaction block.
--
-- One queue's failing operation (a damaged queue, a table locked for longer than
-- c_lock_timeout) is rolled back and reported as a WARNING naming the queue; the others
-- still run and commit. A procedure with a SET clause cannot COMMIT, so instead of a pinned
-- search_path every call here is schema-qualified.
CREATE OR REPLACE PROCEDURE pgferry.maint()
LANGUAGE plpgsql AS $$
DECLARE
  c_lock_timeout constant text := '5s';
  op record;
  v_state text;
  v_msg text;
BEGIN
  FOR op IN SELECT * FROM pgferry.maint_operations() LOOP
    BEGIN
      PERFORM pg_catalog.set_config('lock_timeout', c_lock_timeout, true);
      IF op.func_arg IS NULL THEN
        EXECUTE pg_catalog.format('SELECT %s()', op.func_name);
      ELSE
        EXECUTE pg_catalog.format('SELECT %s($1)', op.func_name) USING op.func_arg;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
      RAISE WARNING 'pgferry.maint: % failed for queue %: % (SQLSTATE %)',
        op.func_name, coalesce(pg_catalog.quote_ident(op.func_arg), 'all queues'), v_msg, v_state
        USING HINT = 'The other queues were maintained. Check this queue with pgferry.get_queue_info().';
    END;
    COMMIT;
  END LOOP;
END $$;
