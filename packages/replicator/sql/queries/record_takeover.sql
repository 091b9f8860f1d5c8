-- Takeover: node $2 took the root role from $1 at tick $3; $4 is the report (survivors, old root's location).
INSERT INTO pgferry.repl_takeover (tk_old_root, tk_new_root, tk_tick_id, tk_report) VALUES ($1, $2, $3, $4) RETURNING tk_id
