-- A subscription's tables with their state, copy progress and last error.
SELECT t.*, s.rs_last_error, s.rs_error_at, s.rs_errors, s.rs_copy_rows, s.rs_copy_bytes,
       s.rs_copy_estimate, s.rs_copy_started, s.rs_updated
  FROM pgferry.subscriber_table t
  LEFT JOIN pgferry.repl_status s ON s.rs_subscription = t.st_subscription AND s.rs_scope = t.st_dest
 WHERE t.st_subscription = $1
 ORDER BY t.st_source
