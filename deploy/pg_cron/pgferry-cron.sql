-- pgferry without a daemon: pg_cron ticks the queues and runs their maintenance.
--
-- Run this in the database that holds the queues, with pg_cron installed there
-- (cron.database_name), as a role that may tick and maintain them (pgferry_admin, or the
-- owner of schema pgferry). Queues in another database: cron.schedule_in_database, see
-- deploy/README.md. Undo: SELECT cron.unschedule('pgferry-ticker'), and so on.

-- Ticks: every second, every queue that is due by its rules (count, lag, idle period, a
-- waiting consumer, late commits). pgferry.ticker() ticks each queue on its own
-- (ticker_all()): a queue that fails holds back no other. A consumer waiting for a burst's
-- last events gets them within about a second (the daemon: within its tickIntervalMs).
SELECT cron.schedule('pgferry-ticker', '1 seconds', $$SELECT pgferry.ticker()$$);

-- Maintenance: table rotation (two phases), the retry mover, tick cleanup and the rotation
-- of the position log. Each operation commits on its own; one that fails is a WARNING
-- naming its queue (cron.job_run_details shows it) and the others still run.
SELECT cron.schedule('pgferry-maint', '30 seconds', $$CALL pgferry.maint()$$);

-- pg_cron records every run in cron.job_run_details and never removes them: with the two
-- jobs above, about 90,000 rows a day. Keep a day of them (or set cron.log_run = off).
SELECT cron.schedule('pgferry-cron-history', '17 * * * *',
  $$DELETE FROM cron.job_run_details WHERE end_time < pg_catalog.now() - interval '1 day'$$);
