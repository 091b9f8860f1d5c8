-- The number of event tables of a queue can grow. set_queue_config creates the
-- new tables at once; the rotation starts using them when it next wraps around.
ALTER TABLE pgferry.queue ADD COLUMN queue_ntables_next int;
COMMENT ON COLUMN pgferry.queue.queue_ntables_next IS
  'Number of event tables from the next wrap of the rotation on (set_queue_config ntables), or NULL';
