#!/usr/bin/env node
/**
 * pgferry-replicate: node and table administration, status, and the worker daemon.
 *
 *   pgferry-replicate create-root  --provider URL --node root [--queue Q]
 *   pgferry-replicate create-leaf  --provider URL --subscriber URL --node leaf1
 *   pgferry-replicate add-table    --provider URL --subscriber URL --node leaf1 TABLE
 *                                  [--dest T] [--columns a,b] [--key a,b] [--ignore c]
 *                                  [--filter SQL] [--mode statement|row] [--create]
 *   pgferry-replicate remove-table --provider URL --subscriber URL --node leaf1 TABLE [--drop-capture]
 *   pgferry-replicate resync       --subscriber URL --node leaf1 TABLE
 *   pgferry-replicate tables       --subscriber URL --node leaf1 [--json]
 *   pgferry-replicate status       --subscriber URL --node leaf1 [--provider URL] [--json]
 *   pgferry-replicate worker       (--provider URL --subscriber URL --node leaf1 | --config FILE)
 *                                  [--parallel-copies N] [--poll-ms N] [--no-ticker]
 *                                  [--metrics-port N]   (Prometheus, http://127.0.0.1:N/metrics)
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  addTable,
  createLeafNode,
  createPool,
  createRootNode,
  formatStatus,
  getStatus,
  listTables,
  removeTable,
  resyncTable,
} from './index.js';
import { ReplicationWorker } from './worker.js';
import { replicationMetrics, serveMetrics } from './metrics.js';
import type { SubscriptionWorkerOptions } from './subscription.js';

const options = {
  provider: { type: 'string' },
  subscriber: { type: 'string' },
  node: { type: 'string' },
  queue: { type: 'string' },
  dest: { type: 'string' },
  columns: { type: 'string' },
  key: { type: 'string' },
  ignore: { type: 'string' },
  filter: { type: 'string' },
  mode: { type: 'string' },
  create: { type: 'boolean' },
  'drop-capture': { type: 'boolean' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  'parallel-copies': { type: 'string' },
  'poll-ms': { type: 'string' },
  'retry-ms': { type: 'string' },
  'no-ticker': { type: 'boolean' },
  'metrics-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

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

class UsageError extends Error {}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function log(level: string, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${message}\n`);
}

async function withPools<T>(urls: (string | undefined)[], fn: (...pools: ReturnType<typeof createPool>[]) => Promise<T>): Promise<T> {
  const pools = urls.map((u) => createPool(u ?? ''));
  try {
    return await fn(...pools);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
}

async function runWorker(values: Record<string, unknown>): Promise<void> {
  let subs: SubscriptionWorkerOptions[];
  let ticker = !values['no-ticker'];
  if (typeof values.config === 'string') {
    const cfg = configSchema.parse(JSON.parse(readFileSync(values.config, 'utf8')));
    subs = cfg.subscriptions;
    if (cfg.ticker === false) ticker = false;
  } else {
    subs = [{ subscription: need(values, 'node'), provider: need(values, 'provider'), subscriber: need(values, 'subscriber') }];
  }
  const num = (k: string) => (typeof values[k] === 'string' ? Number(values[k]) : undefined);
  subs = subs.map((s) => ({
    parallelCopies: num('parallel-copies'),
    pollIntervalMs: num('poll-ms'),
    retryMinMs: num('retry-ms'),
    ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)),
    log,
  })) as SubscriptionWorkerOptions[];
  for (const s of subs) for (const k of Object.keys(s) as (keyof SubscriptionWorkerOptions)[]) if (s[k] === undefined) delete s[k];
  const worker = new ReplicationWorker({ subscriptions: subs, ticker }).start();
  log('info', `worker started: ${subs.map((s) => s.subscription).join(', ')}`);
  const metricsPort = num('metrics-port');
  const metrics = metricsPort === undefined ? undefined : await serveMetrics(replicationMetrics(worker), metricsPort);
  if (metrics) log('info', `metrics on http://127.0.0.1:${metricsPort}/metrics`);
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

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  const [command, table] = positionals;
  if (values.help || !command) {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^#!.*\n\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
    return values.help ? 0 : 2;
  }
  const out = (v: unknown, text: string) => process.stdout.write((values.json ? JSON.stringify(v, null, 2) : text) + '\n');
  switch (command) {
    case 'create-root':
      return withPools([need(values, 'provider')], async (p) => {
        const n = await createRootNode(p, { node: need(values, 'node'), queue: values.queue });
        out(n, `root node ${n.name} (queue ${n.queue})`);
        return 0;
      });
    case 'create-leaf':
      return withPools([need(values, 'provider'), need(values, 'subscriber')], async (p, s) => {
        const n = await createLeafNode(p, s, { node: need(values, 'node') });
        out(n, `leaf node ${n.name} of ${n.providerNode} (queue ${n.queue})`);
        return 0;
      });
    case 'add-table': {
      if (!table) throw new UsageError('add-table needs a TABLE');
      return withPools([need(values, 'provider'), need(values, 'subscriber')], async (p, s) => {
        const mode = values.mode;
        if (mode !== undefined && mode !== 'row' && mode !== 'statement') throw new UsageError('--mode is row or statement');
        const t = await addTable(p, s, {
          subscription: need(values, 'node'),
          table,
          dest: values.dest,
          columns: list(values.columns),
          keyColumns: list(values.key),
          ignoreColumns: list(values.ignore),
          filter: values.filter,
          mode,
          create: values.create,
        });
        out(t, `added ${t.source} -> ${t.dest} (${t.state})`);
        return 0;
      });
    }
    case 'remove-table': {
      if (!table) throw new UsageError('remove-table needs a TABLE');
      return withPools([need(values, 'provider'), need(values, 'subscriber')], async (p, s) => {
        await removeTable(p, s, { subscription: need(values, 'node'), table, dropCapture: values['drop-capture'] });
        out({ removed: table }, `removed ${table}`);
        return 0;
      });
    }
    case 'resync': {
      if (!table) throw new UsageError('resync needs a TABLE');
      return withPools([need(values, 'subscriber')], async (s) => {
        await resyncTable(s, { subscription: need(values, 'node'), table });
        out({ resync: table }, `${table} will be copied again`);
        return 0;
      });
    }
    case 'tables':
      return withPools([need(values, 'subscriber')], async (s) => {
        const ts = await listTables(s, need(values, 'node'));
        out(ts, ts.map((t) => `${t.source} -> ${t.dest}: ${t.state}`).join('\n') || '(no tables)');
        return 0;
      });
    case 'status': {
      const urls = [need(values, 'subscriber'), values.provider];
      return withPools(urls.filter((u): u is string => !!u), async (s, p) => {
        const st = await getStatus(s, need(values, 'node'), p);
        out(st, formatStatus(st));
        return st.lastError || st.tables.some((t) => t.lastError) ? 1 : 0;
      });
    }
    case 'worker':
      await runWorker(values);
      return 0;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log('error', err instanceof Error ? err.message : String(err));
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
