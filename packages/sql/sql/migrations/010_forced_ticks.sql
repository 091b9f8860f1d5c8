-- PGQ's force_tick asks the next ticker round for a tick (it made the event counter jump past
-- ticker_max_count). The count rule now ticks only when the next batch would hold a
-- committed event, so the request is recorded: a round ticks while its last tick is older.
ALTER TABLE pgferry.queue ADD COLUMN queue_tick_forced_at timestamptz;
COMMENT ON COLUMN pgferry.queue.queue_tick_forced_at IS
  'When a tick was last asked for (pgq.force_tick): due while the last tick is older';
