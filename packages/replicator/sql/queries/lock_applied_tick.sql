-- The main stream's position, locked: apply, hand-off, resync and remove-table take this
-- lock first, so each sees the table states the others committed.
SELECT at_queue, at_tick_id FROM pgferry.applied_tick WHERE at_subscription = $1 FOR UPDATE
