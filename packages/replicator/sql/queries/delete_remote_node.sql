-- On a provider: forget subscriber node $1 (a remote node of this one).
DELETE FROM pgferry.repl_node WHERE node_name = $1 AND NOT is_local
