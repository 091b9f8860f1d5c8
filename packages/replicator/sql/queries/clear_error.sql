UPDATE pgferry.repl_status SET rs_last_error = NULL, rs_updated = pg_catalog.now()
 WHERE rs_subscription = $1 AND rs_scope = $2 AND rs_last_error IS NOT NULL
