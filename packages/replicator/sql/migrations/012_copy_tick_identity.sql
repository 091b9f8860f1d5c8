-- The catch-up's position is a tick id; these are that tick's time and event counter as the
-- provider made it (as applied_tick keeps them for the main stream). A provider restored from
-- a backup older than the position makes new ticks under ids the catch-up has applied: only
-- their identity tells them apart, and a catch-up that took their batches as applied would
-- skip the provider's new changes. NULL: recorded by an older version (not checked).
ALTER TABLE pgferry.subscriber_table
  ADD COLUMN st_copy_tick_time timestamptz,
  ADD COLUMN st_copy_tick_seq bigint;
