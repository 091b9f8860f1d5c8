-- Federation (merge): several subscriptions, each the consumer of another provider's queue,
-- write one subscriber table. Each row carries its source (the subscription's name) in the
-- table's merge column; a subscription's copy, apply and truncate touch only the rows of
-- its own source (see handlers/row.ts). NULL: the table is written by one subscription.
ALTER TABLE pgferry.subscriber_table ADD COLUMN st_merge_column text;
-- The table's copy and apply are captured by the subscriber's own capture of the table
-- (pgferry.replica is off while they write it): a merged table feeds a queue on the target.
-- Default: the replicator's writes are not captured again (loop prevention).
ALTER TABLE pgferry.subscriber_table ADD COLUMN st_capture_applied boolean NOT NULL DEFAULT false;
