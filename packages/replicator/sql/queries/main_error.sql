-- The worker's last error of subscription $1 (main stream, supervisor, subscription lock or
-- a foreign key it cannot put back; tables have their own) and its time, scope first (no row when none is failing now).
SELECT CASE WHEN rs_scope = 'main' THEN rs_last_error ELSE rs_scope || ': ' || rs_last_error END AS rs_last_error, rs_error_at
  FROM pgferry.repl_status
 WHERE rs_subscription = $1 AND (rs_scope IN ('main', 'supervisor', 'lock') OR rs_scope LIKE 'foreign key %') AND rs_last_error IS NOT NULL
 ORDER BY rs_error_at DESC
 LIMIT 1
