-- Record this database as root node $1 of queue $2 (nothing when the node exists).
INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, is_local) VALUES ($1, 'root', $2, true)
ON CONFLICT (node_name) DO NOTHING
