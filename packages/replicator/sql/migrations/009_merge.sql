-- Federation (merge): several subscriptions, each the consumer of another provider's queue,
-- write one subscriber table. Each row carries its source (the subscription's name) in the
-- table's merge column; a subscription's copy, apply and truncate touch only the rows of
-- its own source (see handlers/merge.ts). NULL: the table is written by one subscription.
ALTER TABLE pgferry.subscriber_table ADD COLUMN st_merge_column text;
