-- Record that SQL file $1 (hash $2) ran in this database.
INSERT INTO pgferry.repl_executed (ex_name, ex_hash) VALUES ($1, $2)
