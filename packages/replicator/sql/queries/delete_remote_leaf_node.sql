-- On the provider: forget leaf node $1 (a remote node of this root).
DELETE FROM pgferry.repl_node WHERE node_name = $1 AND NOT is_local AND node_type = 'leaf'
