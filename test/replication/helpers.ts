/** Helpers for replication tests: two real servers, table comparison, waiting. */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { Ticker, forceTick } from '@pgferry/queue';
import { PgServer } from '../harness/pg-server.js';
import {
  SubscriptionWorker,
  createLeafNode,
  createRootNode,
  type SubscriptionWorkerOptions,
} from '@pgferry/replicator';

export interface TwoServers {
  providerServer: PgServer;
  subscriberServer: PgServer;
  providerUrl: string;
  subscriberUrl: string;
  provider: pg.Pool;
  subscriber: pg.Pool;
}

export async function startTwoServers(name: string): Promise<TwoServers> {
  const [providerServer, subscriberServer] = await Promise.all([
    PgServer.start({ name: `${name}-provider` }),
    PgServer.start({ name: `${name}-subscriber` }),
  ]);
  const providerUrl = await providerServer.createDatabase('prov');
  const subscriberUrl = await subscriberServer.createDatabase('sub');
  // Named, so that fault tests can tell the test's own sessions from the worker's.
  const provider = new pg.Pool({ connectionString: providerUrl, max: 10, application_name: 'pgferry-test' });
  const subscriber = new pg.Pool({ connectionString: subscriberUrl, max: 10, application_name: 'pgferry-test' });
  provider.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  return { providerServer, subscriberServer, providerUrl, subscriberUrl, provider, subscriber };
}

export async function stopTwoServers(s: Partial<TwoServers> | undefined): Promise<void> {
  if (!s) return;
  await Promise.allSettled([s.provider?.end(), s.subscriber?.end()]);
  await Promise.allSettled([s.providerServer?.destroy(), s.subscriberServer?.destroy()]);
}

export interface Replication extends TwoServers {
  ticker: Ticker;
  worker: SubscriptionWorker;
}

/**
 * Two servers, a root "root" (queue "repl") and its leaf "leaf1", a ticker ticking every
 * 20 ms and a worker retrying quickly. `prepare` runs once the nodes exist and before the
 * worker starts (tables, add-table).
 */
export async function startReplication(
  name: string,
  options: { prepare?: (env: TwoServers) => Promise<void>; worker?: Partial<SubscriptionWorkerOptions> } = {},
): Promise<Replication> {
  const env = await startTwoServers(name);
  await createRootNode(env.provider, { node: 'root', queue: 'repl' });
  await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
  await options.prepare?.(env);
  const ticker = new Ticker({ connectionString: env.providerUrl }, { tickIntervalMs: 20, maintIntervalMs: 500 }).start();
  const worker = new SubscriptionWorker({
    subscription: 'leaf1',
    provider: env.providerUrl,
    subscriber: env.subscriberUrl,
    pollIntervalMs: 50,
    retryMinMs: 100,
    retryMaxMs: 500,
    ...options.worker,
  }).start();
  return { ...env, ticker, worker };
}

export async function stopReplication(r: Partial<Replication> | undefined): Promise<void> {
  await r?.worker?.stop().catch(() => undefined);
  await r?.ticker?.stop().catch(() => undefined);
  await stopTwoServers(r);
}

/** All rows of a table as one JSON text, ordered by `orderBy`. */
export async function tableJson(db: pg.Pool, table: string, orderBy = 'id', columns = '*'): Promise<string> {
  const { rows } = await db.query<{ j: string }>(
    `SELECT coalesce(json_agg(t ORDER BY ${orderBy})::text, '[]') AS j FROM (SELECT ${columns} FROM ${table}) t`,
  );
  return rows[0]!.j;
}

/** Poll `check` until it returns true (throws after `timeoutMs` with `what`). */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The tick the subscriber applied last for `subscription`. */
export async function appliedTick(subscriber: pg.Pool, subscription = 'leaf1'): Promise<bigint> {
  const { rows } = await subscriber.query<{ t: string }>(`SELECT at_tick_id::text AS t FROM pgferry.applied_tick WHERE at_subscription = $1`, [subscription]);
  return BigInt(rows[0]!.t);
}

/**
 * Once the writers stopped: a new tick, after their last commit, and wait until the subscriber
 * applied it. Not "no events pending": the newest tick may have been taken while a writer's
 * transaction was still open after drawing its event ids, and a consumer at that tick counts
 * them as consumed although they come in the next batch.
 */
export async function waitForApplied(env: Pick<TwoServers, 'provider' | 'subscriber'>, timeoutMs = 120_000, queue = 'repl', subscription = 'leaf1'): Promise<void> {
  const last = BigInt(await forceTick(env.provider, queue));
  await waitFor(`subscriber ${subscription} to apply tick ${last}`, async () => (await appliedTick(env.subscriber, subscription)) >= last, timeoutMs);
}

/** A deterministic pseudo-random generator (so a failing run can be replayed by its seed). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A cold backup of `server` into `dir`: the server stopped, its data directory copied (owner kept), started again. */
export async function coldBackup(server: PgServer, dir: string): Promise<void> {
  await server.stop();
  execFileSync('cp', ['-a', server.dataDir, dir]);
  await server.startAgain();
}

/** The incident: `server`'s data is lost and the backup in `dir` put back in place. */
export async function restoreBackup(server: PgServer, dir: string): Promise<void> {
  await server.stop();
  await rm(server.dataDir, { recursive: true, force: true });
  execFileSync('cp', ['-a', dir, server.dataDir]);
  await server.startAgain();
}
