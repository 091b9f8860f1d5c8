-- The main stream's last error of subscription $1 and its time (no row when it never failed).
SELECT rs_last_error, rs_error_at FROM pgferry.repl_status WHERE rs_subscription = $1 AND rs_scope = 'main'
