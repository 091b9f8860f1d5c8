-- The takeovers this node took part in, newest first.
SELECT tk_id, tk_old_root, tk_new_root, tk_tick_id::text, tk_report, tk_time FROM pgferry.repl_takeover ORDER BY tk_id DESC
