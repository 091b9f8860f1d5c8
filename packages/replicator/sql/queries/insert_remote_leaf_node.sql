-- On the provider: record leaf $1 of queue $2 under root $3, as a remote node (nothing when it exists).
INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, provider_node, is_local)
VALUES ($1, 'leaf', $2, $3, false) ON CONFLICT (node_name) DO NOTHING
