-- All maintenance in one call, each operation committed on its own (rotation's two phases
-- must be separate transactions). For pg_cron or any scheduler without pgferry's daemon:
--   SELECT cron.schedule('pgferry-ticker', '1 second', 'SELECT pgferry.ticker()');
--   SELECT cron.schedule('pgferry-maint', '30 seconds', 'CALL pgferry.maint()');
-- Must be called outside an explicit transaction block.
CREATE OR REPLACE PROCEDURE pgferry.maint()
LANGUAGE plpgsql AS $$
DECLARE
  op record;
BEGIN
  FOR op IN SELECT * FROM pgferry.maint_operations() LOOP
    IF op.func_arg IS NULL THEN
      EXECUTE format('SELECT %s()', op.func_name);
    ELSE
      EXECUTE format('SELECT %s($1)', op.func_name) USING op.func_arg;
    END IF;
    COMMIT;
  END LOOP;
END $$;
