-- On a subscriber: record local node $1 (type $2: leaf or branch) of queue $3 under provider
-- $4 at location $5, and its position at tick $6 made at $7 with event counter $8 (existing
-- rows kept).
WITH n AS (INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, provider_node, provider_location, is_local)
           VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (node_name) DO NOTHING)
INSERT INTO pgferry.applied_tick (at_subscription, at_queue, at_tick_id, at_tick_time, at_event_seq)
VALUES ($1, $3, $6, $7, $8)
ON CONFLICT (at_subscription) DO NOTHING
