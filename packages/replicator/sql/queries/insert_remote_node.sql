-- On a provider: record subscriber node $1 (type $2) of queue $3 under this node $4, at
-- location $5 (nothing when it exists; a known location is kept when $5 is null).
INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, provider_node, node_location, is_local)
VALUES ($1, $2, $3, $4, $5, false)
ON CONFLICT (node_name) DO UPDATE SET node_location = coalesce(EXCLUDED.node_location, pgferry.repl_node.node_location)
 WHERE NOT pgferry.repl_node.is_local
