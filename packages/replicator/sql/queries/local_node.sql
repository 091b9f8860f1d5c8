-- This database's local node named $1, whatever its type (no row when there is none).
SELECT * FROM pgferry.repl_node WHERE node_name = $1 AND is_local
