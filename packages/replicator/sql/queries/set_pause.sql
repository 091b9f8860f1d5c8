-- Pause subscription $1's main stream after tick $2 for $3 milliseconds (renewed while the
-- pauser works); $2 NULL lifts the pause.
UPDATE pgferry.applied_tick
   SET at_pause_tick = $2,
       at_pause_until = CASE WHEN $2::bigint IS NULL THEN NULL
                             ELSE pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $3::float8 / 1000) END
 WHERE at_subscription = $1
RETURNING at_tick_id
