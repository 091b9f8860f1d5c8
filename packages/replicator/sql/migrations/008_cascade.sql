-- Cascades: root -> branch -> leaf, any depth. A branch is a subscriber of its provider and
-- the provider of further nodes: its queue carries its provider's events and ticks.

ALTER TABLE pgferry.repl_node DROP CONSTRAINT IF EXISTS repl_node_node_type_check;
ALTER TABLE pgferry.repl_node ADD CONSTRAINT repl_node_node_type_check CHECK (node_type IN ('root', 'branch', 'leaf'));

-- Where nodes are: node_location, the node's connection string as the other nodes reach it
-- (on a provider, its subscribers'; for status and switchover); provider_location, on a
-- subscriber's local row, where its worker reads from (set by create-leaf/create-branch,
-- change-provider, switchover and takeover; a worker's configured provider when null).
ALTER TABLE pgferry.repl_node
  ADD COLUMN node_location text,
  ADD COLUMN provider_location text;

-- The position's tick as the provider made it (time, event counter): a branch makes the
-- same tick on its own queue once the batch is applied (again after a crash, from these).
ALTER TABLE pgferry.applied_tick
  ADD COLUMN at_tick_time timestamptz,
  ADD COLUMN at_event_seq bigint;

-- Takeovers this node took part in: the old root given up at a tick, and what the nodes
-- had then (a report: which node had applied what, so what may be lost is known).
CREATE TABLE pgferry.repl_takeover (
  tk_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tk_old_root    text NOT NULL,
  tk_new_root    text NOT NULL,
  tk_tick_id     bigint NOT NULL,
  tk_report      jsonb NOT NULL,
  tk_time        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
