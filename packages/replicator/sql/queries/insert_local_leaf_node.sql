-- On the subscriber: record local leaf $1 of queue $2 under root $3, and its position at tick $4 (existing rows kept).
WITH n AS (INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, provider_node, is_local)
           VALUES ($1, 'leaf', $2, $3, true) ON CONFLICT (node_name) DO NOTHING)
INSERT INTO pgferry.applied_tick (at_subscription, at_queue, at_tick_id) VALUES ($1, $2, $4)
ON CONFLICT (at_subscription) DO NOTHING
