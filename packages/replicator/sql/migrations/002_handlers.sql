-- How each table's changes land on the subscriber: a handler by name (see
-- packages/replicator/src/handlers) and its arguments, chosen at add-table.
ALTER TABLE pgferry.subscriber_table
  ADD COLUMN st_handler text NOT NULL DEFAULT 'row',
  ADD COLUMN st_handler_args jsonb NOT NULL DEFAULT '{}';
