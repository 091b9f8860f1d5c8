-- Forget the status rows (errors, copy progress) of every scope of subscription $1.
DELETE FROM pgferry.repl_status WHERE rs_subscription = $1
