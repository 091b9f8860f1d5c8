-- Forget the status (errors, copy progress) of scope $2 (a destination table) of subscription $1.
DELETE FROM pgferry.repl_status WHERE rs_subscription = $1 AND rs_scope = $2
