#!/usr/bin/env node
/**
 * pgferry-replicate: node and table administration, status, and the worker daemon
 * (commander: `pgferry-replicate <command> --help` describes each command, with examples).
 * bin/pgferry-replicate.mjs launches it.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import {
  addTable,
  createLeafNode,
  createProviderPool,
  createRootNode,
  dropLeafNode,
  formatStatus,
  getStatus,
  listTables,
  maxNodeNameLength,
  removeTable,
  resyncTable,
} from '../index.js';
import { ReplicationWorker } from '../worker/replication-worker.js';
import { replicationMetrics, serveMetrics } from '../status/metrics.js';
import type { SubscriptionWorkerOptions } from '../worker/subscription-worker.js';
import type { DropLeafResult } from '../admin/nodes.js';

const NAME = 'pgferry-replicate';

/** Exit codes (documented in `pgferry-replicate --help`). */
const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** A bad command line: one line on stderr, exit 2. */
class UsageError extends Error {}

const HELP_FOOTER = `
Databases are PostgreSQL URLs: --provider for the root, --subscriber for the leaf.

Output:
  Text for people; --json for scripts (every command but worker).

Exit codes:
  0 ok   1 failed (status: the subscription or a table reports an error)   2 bad command line

Examples:
  $ ${NAME} create-root --provider $P --node root --queue repl
  $ ${NAME} create-leaf --provider $P --subscriber $S --node leaf1
  $ ${NAME} add-table --provider $P --subscriber $S --node leaf1 public.accounts --create
  $ ${NAME} worker --provider $P --subscriber $S --node leaf1
  $ ${NAME} status --provider $P --subscriber $S --node leaf1
  $ ${NAME} drop-leaf --provider $P --subscriber $S --node leaf1
`;

const WORKER_HELP = `
Config file (JSON; replaces --provider/--subscriber/--node, flags are defaults under it):
  {
    "ticker": true,
    "subscriptions": [
      { "subscription": "leaf1", "provider": "postgres://...", "subscriber": "postgres://...",
        "parallelCopies": 2, "pollIntervalMs": 200 }
    ]
  }

Signals: SIGTERM/SIGINT stop gracefully (the batch being applied is finished or rolled
back, copies are rolled back). One worker serves a subscription at a time; another one
stands by and takes over when it goes.`;

const configSchema = z.object({
  ticker: z.boolean().optional(),
  subscriptions: z
    .array(
      z.object({
        subscription: z.string(),
        provider: z.string(),
        subscriber: z.string(),
        parallelCopies: z.number().int().positive().optional(),
        pollIntervalMs: z.number().int().positive().optional(),
      }),
    )
    .min(1),
});

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a whole number > 0');
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0: any free port)');
  return n;
}

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** Only the keys whose value is defined. */
const defined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function log(level: string, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${message}\n`);
}

async function withPools<T>(urls: (string | undefined)[], fn: (...pools: ReturnType<typeof createProviderPool>[]) => Promise<T>): Promise<T> {
  const pools = urls.map((u) => createProviderPool(u ?? ''));
  try {
    return await fn(...pools);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
}

/** What drop-leaf removed, for people. */
function describeDrop(r: DropLeafResult): string {
  const lines: string[] = [];
  const p = r.provider;
  const s = r.subscriber;
  if (r.forced) lines.push(`leaf ${r.node}: a worker was serving it (--force); stop it, it fails on every step now`);
  if (p.consumers.length) lines.push(`provider: unregistered consumer${p.consumers.length > 1 ? 's' : ''} ${p.consumers.join(', ')} from queue ${r.queue}`);
  if (p.nodeRow) lines.push(`provider: removed node row ${r.node}`);
  if (s.tables.length) lines.push(`subscriber: took ${s.tables.join(', ')} out of the subscription (the tables and their data stay)`);
  if (s.appliedTick) lines.push('subscriber: removed the applied tick');
  if (s.statusRows) lines.push(`subscriber: removed ${s.statusRows} status row${s.statusRows > 1 ? 's' : ''}`);
  if (s.nodeRow) lines.push(`subscriber: removed node row ${r.node}`);
  if (lines.length === (r.forced ? 1 : 0)) lines.push(`leaf ${r.node}: nothing to remove (neither database knows it)`);
  else lines.push(`leaf ${r.node} removed`);
  return lines.join('\n');
}

/** The result as JSON with --json, else as text. */
function out(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : text) + '\n');
}

// Options, with the same meaning on every command.
const providerOption = () => new Option('--provider <url>', 'provider (root) database URL').makeOptionMandatory();
const subscriberOption = () => new Option('--subscriber <url>', 'subscriber (leaf) database URL').makeOptionMandatory();
const leafOption = () => new Option('--node <name>', 'leaf node: the subscription (its consumer on the root queue)').makeOptionMandatory();
const jsonOption = () => new Option('--json', 'machine-readable output');

function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${NAME} ${l}`).join('\n')}\n`);
}

interface Conn {
  provider: string;
  subscriber: string;
  node: string;
  json?: boolean;
}

interface AddTableFlags extends Conn {
  dest?: string;
  columns?: string;
  key?: string;
  ignore?: string;
  filter?: string;
  mode?: 'statement' | 'row';
  create?: boolean;
}

interface WorkerFlags extends Partial<Conn> {
  config?: string;
  parallelCopies?: number;
  pollMs?: number;
  retryMs?: number;
  ticker: boolean;
  metricsPort?: number;
}

function readConfig(file: string): z.infer<typeof configSchema> {
  const parsed = configSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
  throw new Error(`config ${file}: ${problems.join('; ')}`);
}

async function runWorker(o: WorkerFlags): Promise<void> {
  let subs: Omit<SubscriptionWorkerOptions, 'log'>[];
  let ticker = o.ticker;
  if (o.config !== undefined) {
    const cfg = readConfig(o.config);
    subs = cfg.subscriptions;
    if (cfg.ticker === false) ticker = false;
  } else {
    for (const name of ['node', 'provider', 'subscriber'] as const) {
      if (!o[name]) throw new UsageError(`--${name} is required (or --config FILE)`);
    }
    subs = [{ subscription: o.node!, provider: o.provider!, subscriber: o.subscriber! }];
  }
  // The flags are defaults: a subscription's own settings in the config file win.
  const flags = defined({ parallelCopies: o.parallelCopies, pollIntervalMs: o.pollMs, retryMinMs: o.retryMs });
  const options: SubscriptionWorkerOptions[] = subs.map((s) => ({ ...flags, ...defined(s), log }) as SubscriptionWorkerOptions);
  const worker = new ReplicationWorker({ subscriptions: options, ticker }).start();
  log('info', `worker started: ${options.map((s) => s.subscription).join(', ')}`);
  const metrics = o.metricsPort === undefined ? undefined : await serveMetrics(replicationMetrics(worker), o.metricsPort);
  if (metrics) log('info', `metrics on http://127.0.0.1:${o.metricsPort}/metrics`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log('info', `${sig}: stopping`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  metrics?.close();
  await worker.stop();
  log('info', 'worker stopped');
}

export function buildProgram(): Command {
  const program = new Command(NAME)
    .description('pgferry replication: root and leaf nodes, tables to replicate, status, and the worker daemon')
    .addHelpText('after', HELP_FOOTER)
    // Inherited by the commands added below: usage errors are thrown (exit 2), as one line.
    .exitOverride((err) => {
      throw err;
    })
    .configureOutput({
      outputError: (s, write) => write(`${NAME}: ${oneLine(s.replace(/^error: /, ''))} (add --help for usage)\n`),
    });

  examples(
    program
      .command('create-root')
      .description('make the provider database a root node: pgferry installed, the replication queue created')
      .addOption(providerOption())
      .addOption(new Option('--node <name>', `root node name (1 to ${maxNodeNameLength()} of A-Z a-z 0-9 _ . -)`).makeOptionMandatory())
      .option('--queue <name>', 'replication queue (default: the node name)')
      .addOption(jsonOption())
      .action((o: Omit<Conn, 'subscriber'> & { queue?: string }) =>
        withPools([o.provider], async (p) => {
          const n = await createRootNode(p, { node: o.node, queue: o.queue });
          out(o.json, n, `root node ${n.name} (queue ${n.queue})`);
        }),
      ),
    ['create-root --provider postgres://admin@db1/app --node root --queue repl'],
  );

  examples(
    program
      .command('create-leaf')
      .description("make the subscriber database a leaf of the provider's root: a consumer on the root's queue, its position recorded")
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(
        new Option('--node <name>', `leaf node name: its consumer name on the root's queue (1 to ${maxNodeNameLength()} of A-Z a-z 0-9 _ . -)`).makeOptionMandatory(),
      )
      .addOption(jsonOption())
      .action((o: Conn) =>
        withPools([o.provider, o.subscriber], async (p, s) => {
          const n = await createLeafNode(p, s, { node: o.node });
          out(o.json, n, `leaf node ${n.name} of ${n.providerNode} (queue ${n.queue})`);
        }),
      ),
    ['create-leaf --provider postgres://admin@db1/app --subscriber postgres://admin@db2/app --node leaf1'],
  );

  examples(
    program
      .command('drop-leaf')
      .description(
        "remove a leaf node: its consumer and copy consumers on the root's queue, its rows on both sides (the subscriber's tables and data stay); refused while a worker serves it",
      )
      .addOption(providerOption())
      .option('--subscriber <url>', 'subscriber (leaf) database URL (without it, when that database is gone: only the provider side, with --force)')
      .addOption(new Option('--node <name>', 'the leaf node to remove').makeOptionMandatory())
      .option('--force', 'remove it even though a worker serves it (the worker then fails on every step until stopped)')
      .addOption(jsonOption())
      .action((o: Omit<Conn, 'subscriber'> & { subscriber?: string; force?: boolean }) =>
        withPools([o.provider, o.subscriber].filter((u): u is string => !!u), async (p, s) => {
          const r = await dropLeafNode(p, s ?? null, { node: o.node, force: o.force });
          out(o.json, r, `${o.subscriber ? '' : "subscriber: not given, nothing removed there\n"}${describeDrop(r)}`);
        }),
      ),
    [
      'drop-leaf --provider postgres://admin@db1/app --subscriber postgres://admin@db2/app --node leaf1',
      'drop-leaf --provider postgres://admin@db1/app --node leaf1 --force   # the subscriber database is gone',
    ],
  );

  examples(
    program
      .command('add-table')
      .description('replicate a table: capture it on the provider, check or create it on the subscriber; the worker copies it, then applies its changes')
      .argument('<table>', 'the table on the provider (schema.name; default schema public)')
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--dest <table>', 'the table on the subscriber (default: the same name)')
      .option('--columns <a,b>', 'replicate only these columns (must include the key)')
      .option('--key <a,b>', 'key columns, for a table without a primary key (NOT NULL on both sides; on the subscriber a primary key or unique index on them)')
      .option('--ignore <a,b>', 'columns left out of captured row images')
      .option('--filter <sql>', 'capture only rows matching this SQL condition')
      .addOption(
        new Option('--mode <mode>', 'capture triggers per statement or per row (default: as captured already, else statement)').choices(['statement', 'row']),
      )
      .option('--create', "create the subscriber table from the provider's definition when it does not exist")
      .addOption(jsonOption())
      .action((table: string, o: AddTableFlags) =>
        withPools([o.provider, o.subscriber], async (p, s) => {
          const t = await addTable(p, s, {
            subscription: o.node,
            table,
            dest: o.dest,
            columns: list(o.columns),
            keyColumns: list(o.key),
            ignoreColumns: list(o.ignore),
            filter: o.filter,
            mode: o.mode,
            create: o.create,
          });
          out(o.json, t, `added ${t.source} -> ${t.dest} (${t.state})`);
        }),
      ),
    [
      'add-table --provider $P --subscriber $S --node leaf1 public.accounts --create',
      "add-table --provider $P --subscriber $S --node leaf1 events --key id --ignore payload --filter \"kind <> 'debug'\" --mode row",
    ],
  );

  examples(
    program
      .command('remove-table')
      .description('stop replicating a table (the subscriber table and its data stay)')
      .argument('<table>', 'the table (provider or subscriber name)')
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--drop-capture', "stop capturing it on the provider too (every leaf of the queue loses it)")
      .addOption(jsonOption())
      .action((table: string, o: Conn & { dropCapture?: boolean }) =>
        withPools([o.provider, o.subscriber], async (p, s) => {
          await removeTable(p, s, { subscription: o.node, table, dropCapture: o.dropCapture });
          out(o.json, { removed: table }, `removed ${table}`);
        }),
      ),
    ['remove-table --provider $P --subscriber $S --node leaf1 public.accounts --drop-capture'],
  );

  examples(
    program
      .command('resync')
      .description('copy a table again from scratch (the worker empties it, copies it and catches up)')
      .argument('<table>', 'the table (provider or subscriber name)')
      .addOption(subscriberOption())
      .addOption(leafOption())
      .addOption(jsonOption())
      .action((table: string, o: Omit<Conn, 'provider'>) =>
        withPools([o.subscriber], async (s) => {
          await resyncTable(s, { subscription: o.node, table });
          out(o.json, { resync: table }, `${table} will be copied again`);
        }),
      ),
    ['resync --subscriber $S --node leaf1 public.accounts'],
  );

  examples(
    program
      .command('tables')
      .description("list the subscription's tables and their states (in-copy, catching-up, ok)")
      .addOption(subscriberOption())
      .addOption(leafOption())
      .addOption(jsonOption())
      .action((o: Omit<Conn, 'provider'>) =>
        withPools([o.subscriber], async (s) => {
          const ts = await listTables(s, o.node);
          out(o.json, ts, ts.map((t) => `${t.source} -> ${t.dest}: ${t.state}`).join('\n') || '(no tables)');
        }),
      ),
    ['tables --subscriber $S --node leaf1', 'tables --subscriber $S --node leaf1 --json'],
  );

  examples(
    program
      .command('status')
      .description("the subscription's position, lag, tables, copy progress and errors (exit 1 when there is an error)")
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--provider <url>', 'provider database URL, for the lag and the pending events')
      .addOption(jsonOption())
      .action((o: Omit<Conn, 'provider'> & { provider?: string }) =>
        withPools([o.subscriber, o.provider].filter((u): u is string => !!u), async (s, p) => {
          const st = await getStatus(s, o.node, p);
          out(o.json, st, formatStatus(st));
          if (st.lastError || st.tables.some((t) => t.lastError)) process.exitCode = EXIT.FAILED;
        }),
      ),
    ['status --provider $P --subscriber $S --node leaf1', 'status --subscriber $S --node leaf1 --json'],
  );

  examples(
    program
      .command('worker')
      .description('run the replication: copies, catch-up and the main stream of one subscription (or several, --config), and a ticker on each provider')
      .option('--provider <url>', 'provider database URL (without --config)')
      .option('--subscriber <url>', 'subscriber database URL (without --config)')
      .option('--node <name>', 'leaf node: the subscription (without --config)')
      .option('--config <file>', 'JSON config file with several subscriptions (see below)')
      .option('--parallel-copies <n>', 'tables copied at once (default 2)', positiveInteger)
      .option('--poll-ms <ms>', 'wait between polls when there is no batch (default 200)', positiveInteger)
      .option('--retry-ms <ms>', 'first wait after an error, doubled up to 30 s (default 500)', positiveInteger)
      .option('--no-ticker', 'do not run a ticker on the providers (another process ticks)')
      .option('--metrics-port <port>', 'serve Prometheus metrics on http://127.0.0.1:PORT/metrics', port)
      .addHelpText('after', WORKER_HELP)
      .action((o: WorkerFlags) => runWorker(o)),
    [
      'worker --provider $P --subscriber $S --node leaf1 --metrics-port 9188',
      'worker --config /etc/pgferry/replicate.json --parallel-copies 4',
    ],
  );
  return program;
}

/** Parse and run; returns the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  process.exitCode = EXIT.OK;
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    // commander printed its message already (or the help, exit code 0).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    process.stderr.write(`${NAME}: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    return err instanceof UsageError ? EXIT.USAGE : EXIT.FAILED;
  }
  return Number(process.exitCode ?? EXIT.OK);
}

// Commands close their pools; the worker returns once stopped. Exit now so a stray timer
// cannot keep a finished command alive.
process.exit(await runCli(process.argv));
