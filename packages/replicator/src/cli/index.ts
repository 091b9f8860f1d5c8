/**
 * `pgferry replicate ...`: the replicator's command tree, with the conventions of
 * @pgferry/queue/cli (tables or --json, one-line errors, exit codes 0/1/2/3/4, examples in
 * every --help). @pgferry/cli adds it to the `pgferry` program.
 */
import { Command } from 'commander';
import type { ComponentInfo } from '@pgferry/queue/cli';
import { replicationMigrationIds } from '../state/migrations.js';
import { cascadeCommands } from './cascade.js';
import { nodeCommands } from './nodes.js';
import { sequenceCommands } from './sequences.js';
import { statusCommand } from './status.js';
import { syncCommands } from './sync.js';
import { tableCommands } from './tables.js';
import { waitCommands } from './wait.js';
import { workerCommand } from './worker.js';

const HELP_FOOTER = `
Databases are PostgreSQL URLs: --provider for the node read from (a root or a branch),
--subscriber for the node that reads (a leaf or a branch).
Output: a table (or text) for people, --json for scripts (every command but worker).
Exit codes: 0 ok   1 failed (refused, unknown node or table, status reports an error)
  2 bad command line or config   3 cannot connect   4 pgferry not installed

Examples:
  $ pgferry replicate create-root --provider $P --node root --queue repl
  $ pgferry replicate create-branch --provider $P --subscriber $B --node branch1
  $ pgferry replicate create-leaf --provider $B --subscriber $S --node leaf1
  $ pgferry replicate change-provider --subscriber $S --node leaf1 --provider $P
  $ pgferry replicate switchover --old-root $P --new-root $B
  $ pgferry replicate add-table --provider $P --subscriber $S --node leaf1 public.accounts --create
  $ pgferry replicate add-sequence --provider $P --subscriber $S --node leaf1 --all --create
  $ pgferry replicate handlers --config /etc/pgferry/replicate.json
  $ pgferry replicate worker --config /etc/pgferry/replicate.json
  $ pgferry replicate status --provider $P --subscriber $S --node leaf1
  $ pgferry replicate wait-provider --provider $P --subscriber $S --node leaf1 --timeout 600
  $ pgferry replicate compare --provider $P --subscriber $S --node leaf1 public.accounts
  $ pgferry replicate execute --provider $P 0042_add_note.sql
  $ pgferry replicate drop-leaf --provider $P --subscriber $S --node leaf1
`;

/** Lines for the `pgferry --help` examples. */
export const REPLICATE_EXAMPLES = ['pgferry replicate worker --config /etc/pgferry/replicate.json', 'pgferry replicate status --subscriber $S --node leaf1'];

/** The replicator's schema, for `pgferry version` (its migrations applied and pending in a database). */
export const REPLICATOR_COMPONENT: ComponentInfo = {
  name: 'replicator',
  migrations: replicationMigrationIds,
  // Loaded when used: `pgferry --help` and the queue commands do not pay for the replicator.
  install: async (db) => (await import('../state/schema.js')).installReplication(db),
};

/** The `replicate` command and its subcommands. */
export function replicateCommand(): Command {
  const replicate = new Command('replicate')
    .description('trigger replication: root, branch and leaf nodes, switchover and takeover, tables and their handlers, sequences, status, and the worker daemon')
    .addHelpText('after', HELP_FOOTER);
  nodeCommands(replicate);
  cascadeCommands(replicate);
  tableCommands(replicate);
  sequenceCommands(replicate);
  statusCommand(replicate);
  syncCommands(replicate);
  waitCommands(replicate);
  workerCommand(replicate);
  return replicate;
}
