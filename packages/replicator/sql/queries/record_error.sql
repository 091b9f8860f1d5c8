INSERT INTO pgferry.repl_status AS s (rs_subscription, rs_scope, rs_last_error, rs_error_at, rs_errors)
VALUES ($1, $2, $3, pg_catalog.now(), 1)
ON CONFLICT (rs_subscription, rs_scope) DO UPDATE
   SET rs_last_error = EXCLUDED.rs_last_error, rs_error_at = EXCLUDED.rs_error_at,
       rs_errors = s.rs_errors + 1, rs_updated = pg_catalog.now()
