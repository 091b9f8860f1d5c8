-- Queues that already carry captured tables become capture-only (capture_add_table sets it
-- from now on): their row events are applied to replicas, so writers must not forge them.
UPDATE pgferry.queue q SET queue_capture_only = true
 WHERE EXISTS (SELECT FROM pgferry.capture_table ct WHERE ct.ct_queue = q.queue_id);
