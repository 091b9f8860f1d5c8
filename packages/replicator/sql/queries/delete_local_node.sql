-- On a subscriber: forget local subscriber node $1.
DELETE FROM pgferry.repl_node WHERE node_name = $1 AND is_local AND node_type IN ('leaf', 'branch')
