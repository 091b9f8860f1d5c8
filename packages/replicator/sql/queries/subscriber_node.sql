-- This database's local subscriber node (a leaf or a branch) named $1 (no row when there is none).
SELECT * FROM pgferry.repl_node WHERE node_name = $1 AND is_local AND node_type IN ('leaf', 'branch')
