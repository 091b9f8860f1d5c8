-- On a branch being promoted: local node $1 is the root now (it reads from no provider).
UPDATE pgferry.repl_node SET node_type = 'root', provider_node = NULL, provider_location = NULL
 WHERE node_name = $1 AND is_local AND node_type = 'branch'
