-- When a tick was last asked for on a branch's queue (request_tick), as text ($1: queue).
SELECT queue_tick_forced_at::text AS at FROM pgferry.queue WHERE queue_name = $1
