-- On a subscriber: local node $1 reads from provider node $2 at location $3 from now on.
UPDATE pgferry.repl_node SET provider_node = $2, provider_location = $3
 WHERE node_name = $1 AND is_local
