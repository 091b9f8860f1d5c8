-- The main stream's position, locked: apply, hand-off, resync and remove-table take this
-- lock first, so each sees the table states the others committed. With the pause in force
-- now, if any (see migration 005).
SELECT at_queue, at_tick_id,
       CASE WHEN at_pause_until > pg_catalog.clock_timestamp() THEN at_pause_tick END AS pause_tick
  FROM pgferry.applied_tick WHERE at_subscription = $1 FOR UPDATE
