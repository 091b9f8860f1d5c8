-- Refuse to install over the real PGQ (its schema is also called pgq, and replacing its
-- functions would strand its queues): its pgq.queue is a table, this one's is a view. pgferry must be installed first.
DO $pgq_preflight$
BEGIN
  IF pg_catalog.to_regprocedure('pgferry.version()') IS NULL THEN
    RAISE EXCEPTION 'pgferry is not installed in this database'
      USING ERRCODE = 'PF006', HINT = 'Install pgferry first (pgferry install, or install() from @pgferry/sql).';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname IN ('pgq', 'pgq_coop'))
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_class
                 WHERE oid = pg_catalog.to_regclass('pgq.queue') AND relkind IN ('r', 'p')) THEN
    RAISE EXCEPTION 'schema pgq holds PGQ itself (the extension or its tables)'
      USING ERRCODE = 'PF006',
            HINT = 'Move its queues to pgferry and drop PGQ first: see "Moving a queue from PGQ" in the @pgferry/sql README.';
  END IF;
END $pgq_preflight$;
