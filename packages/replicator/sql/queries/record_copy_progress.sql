INSERT INTO pgferry.repl_status AS s (rs_subscription, rs_scope, rs_copy_rows, rs_copy_bytes, rs_copy_estimate, rs_copy_started)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (rs_subscription, rs_scope) DO UPDATE
   SET rs_copy_rows = EXCLUDED.rs_copy_rows, rs_copy_bytes = EXCLUDED.rs_copy_bytes,
       rs_copy_estimate = EXCLUDED.rs_copy_estimate, rs_copy_started = EXCLUDED.rs_copy_started,
       rs_updated = pg_catalog.now()
