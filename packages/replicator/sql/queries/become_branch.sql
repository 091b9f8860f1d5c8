-- On a root handing its role over: local node $1 is a branch of node $2 at location $3 now,
-- at tick $4 (made at $5 with event counter $6).
WITH n AS (UPDATE pgferry.repl_node SET node_type = 'branch', provider_node = $2, provider_location = $3
            WHERE node_name = $1 AND is_local AND node_type = 'root')
INSERT INTO pgferry.applied_tick (at_subscription, at_queue, at_tick_id, at_tick_time, at_event_seq)
SELECT $1, n.queue_name, $4, $5, $6 FROM pgferry.repl_node n WHERE n.node_name = $1 AND n.is_local
ON CONFLICT (at_subscription) DO UPDATE
   SET at_tick_id = EXCLUDED.at_tick_id, at_tick_time = EXCLUDED.at_tick_time, at_event_seq = EXCLUDED.at_event_seq,
       at_batch_id = NULL, at_applied = pg_catalog.now()
