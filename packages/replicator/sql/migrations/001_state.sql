-- The replicator's state in a database (created by the SQL layer's migration 002 before
-- the replicator owned it, hence IF NOT EXISTS: such databases have the tables already).

-- Replication nodes this database knows: itself (is_local) and, on a root, its leaves.
CREATE TABLE IF NOT EXISTS pgferry.repl_node (
  node_name      text PRIMARY KEY,
  node_type      text NOT NULL CHECK (node_type IN ('root', 'leaf')),
  queue_name     text NOT NULL,
  provider_node  text,
  is_local       boolean NOT NULL,
  node_created   timestamptz NOT NULL DEFAULT now()
);

-- Tables a subscription (a leaf; its consumer name on the provider's queue) replicates
-- into this database. States as in Londiste: 'in-copy' (waiting for or in the initial
-- COPY), 'catching-up' (copied from st_copy_snapshot; its own consumer applies the events
-- not in that snapshot), 'ok' (applied by the main stream for batches ending after
-- st_sync_tick).
CREATE TABLE IF NOT EXISTS pgferry.subscriber_table (
  st_subscription   text NOT NULL,
  st_source         text NOT NULL,
  st_dest           text NOT NULL,
  st_key_columns    text[] NOT NULL,
  st_columns        text[] NOT NULL,
  st_state          text NOT NULL DEFAULT 'in-copy' CHECK (st_state IN ('in-copy', 'catching-up', 'ok')),
  st_copy_snapshot  pg_snapshot,
  st_copy_consumer  text,
  st_copy_tick      bigint,
  st_sync_tick      bigint,
  st_copied_rows    bigint,
  st_missing_updates bigint NOT NULL DEFAULT 0,
  st_missing_deletes bigint NOT NULL DEFAULT 0,
  st_added          timestamptz NOT NULL DEFAULT now(),
  st_state_changed  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (st_subscription, st_source),
  UNIQUE (st_subscription, st_dest)
);

-- The main stream's position in this database: the end tick of the last batch applied,
-- written in the batch's own apply transaction (exactly once across restarts).
CREATE TABLE IF NOT EXISTS pgferry.applied_tick (
  at_subscription  text PRIMARY KEY,
  at_queue         text NOT NULL,
  at_tick_id       bigint,
  at_batch_id      bigint,
  at_applied       timestamptz,
  at_events        bigint NOT NULL DEFAULT 0
);

-- What a worker is doing, written outside apply transactions (so also when they fail):
-- the last error of a scope ('main' or a table) and copy progress.
CREATE TABLE IF NOT EXISTS pgferry.repl_status (
  rs_subscription  text NOT NULL,
  rs_scope         text NOT NULL,
  rs_last_error    text,
  rs_error_at      timestamptz,
  rs_errors        bigint NOT NULL DEFAULT 0,
  rs_copy_rows     bigint,
  rs_copy_bytes    bigint,
  rs_copy_estimate bigint,
  rs_copy_started  timestamptz,
  rs_updated       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rs_subscription, rs_scope)
);
