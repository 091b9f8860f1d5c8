-- The hash of SQL file $1 if this database ran it (locks its row while the caller decides).
SELECT ex_hash FROM pgferry.repl_executed WHERE ex_name = $1 FOR UPDATE
