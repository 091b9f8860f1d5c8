/**
 * wait-sync, wait-provider (Londiste's commands): when a wait returns, the subscriber holds
 * what it promises, read at once, without polling: every table 'ok'; every change committed
 * on the provider before the call, also one whose transaction was open when the newest tick
 * was taken (a consumer at that tick reads "nothing pending" although the change comes in the
 * next batch). A wait cannot end while nothing applies: with the worker stopped it times out,
 * saying which tick it waited for; so does wait-provider from a branch (root -> branch ->
 * leaf2, the leaf's worker stopped), for the root's tick the branch applied last. Bad input
 * names what is wrong, also a "root" that is not the subscription's (another queue).
 * (wait-root and wait-provider through a cascade under load: cascade.test.)
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceTick, setQueueConfig } from '@pgferry/queue';
import {
  NodeNotFoundError,
  ReplicationSetupError,
  SubscriptionWorker,
  WaitTimeoutError,
  addTable,
  createBranchNode,
  createLeafNode,
  createRootNode,
  listTables,
  waitForProvider,
  waitForRoot,
  waitForSync,
} from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { appliedTick, startReplication, stopReplication, tableJson, type Replication } from './helpers.js';

const WORKER = { subscription: 'leaf1', pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500 };

describe('waiting for a subscription', () => {
  let r: Replication;

  beforeAll(async () => {
    r = await startReplication('wait', {
      async prepare(env) {
        await env.provider.query(`CREATE TABLE acct (id int PRIMARY KEY, balance numeric NOT NULL);
          INSERT INTO acct SELECT g, g * 10 FROM generate_series(1, 20000) g`);
        await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'acct', create: true });
      },
    });
  });
  /** Pools and workers of the nodes a test adds in new databases of the two servers. */
  const pools: pg.Pool[] = [];
  const workers = new Map<string, SubscriptionWorker>();
  afterAll(async () => {
    await Promise.allSettled([...workers.values()].map((w) => w.stop()));
    await Promise.allSettled(pools.map((p) => p.end()));
    await stopReplication(r);
  });

  /** A pool on a new database `name` of `server`. */
  async function newDatabase(server: Replication['providerServer'], name: string): Promise<{ url: string; pool: pg.Pool }> {
    const url = await server.createDatabase(name);
    const pool = new pg.Pool({ connectionString: url, max: 5, application_name: 'pgferry-test' });
    pool.on('error', () => undefined);
    pools.push(pool);
    return { url, pool };
  }

  /** Start a worker for `subscription` (its provider from its node's row). */
  function startWorker(subscription: string, subscriber: string): void {
    workers.set(subscription, new SubscriptionWorker({ ...WORKER, subscription, subscriber }).start());
  }

  async function stopWorker(subscription: string): Promise<void> {
    await workers.get(subscription)?.stop();
    workers.delete(subscription);
  }

  it('wait-sync returns once every table is ok; wait-provider once what was committed before it is applied', { timeout: 180_000 }, async () => {
    const sync = await pgferry(['replicate', 'wait-sync', '--subscriber', r.subscriberUrl, '--node', 'leaf1', '--timeout', '120', '--json']);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ node: 'leaf1', tables: 1 });
    expect((await listTables(r.subscriber, 'leaf1')).map((t) => t.state)).toEqual(['ok']);

    // A transaction drew its event ids before a tick and commits after it.
    const c = await r.provider.connect();
    try {
      await c.query('BEGIN');
      await c.query('UPDATE acct SET balance = balance + 1 WHERE id % 3 = 0');
      await forceTick(r.provider, 'repl');
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    await r.provider.query('DELETE FROM acct WHERE id % 7 = 0');
    const res = await pgferry(['replicate', 'wait-provider', '--provider', r.providerUrl, '--subscriber', r.subscriberUrl, '--node', 'leaf1', '--timeout', '120']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^leaf1: applied tick \d+ \(waited for \d+, \d+\.\d s\)/);
    expect(await tableJson(r.subscriber, 'acct')).toBe(await tableJson(r.provider, 'acct'));
  });

  it('does not end while nothing applies: times out naming the tick; ends once the worker applies it', { timeout: 180_000 }, async () => {
    await r.worker.stop();
    await r.provider.query('UPDATE acct SET balance = 0 WHERE id <= 100');
    const timedOut = await pgferry(['replicate', 'wait-provider', '--provider', r.providerUrl, '--subscriber', r.subscriberUrl, '--node', 'leaf1', '--timeout', '1']);
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toMatch(/node "leaf1": tick \d+ not applied yet \(applied: \d+\) after \d+\.\d s/);
    expect(timedOut.stderr).toMatch(/is its worker running\?/);
    await expect(waitForProvider(r.provider, r.subscriber, 'leaf1', { timeoutMs: 500 })).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(await tableJson(r.subscriber, 'acct')).not.toBe(await tableJson(r.provider, 'acct'));

    const progress: (string | null | undefined)[] = [];
    const waiting = waitForProvider(r.provider, r.subscriber, 'leaf1', { timeoutMs: 120_000, onProgress: (p) => progress.push(p.appliedTick) });
    r.worker = new SubscriptionWorker({ ...WORKER, provider: r.providerUrl, subscriber: r.subscriberUrl }).start();
    const done = await waiting;
    expect(BigInt(done.appliedTick)).toBeGreaterThanOrEqual(BigInt(done.targetTick));
    expect(progress.length).toBeGreaterThan(0);
    expect(await tableJson(r.subscriber, 'acct')).toBe(await tableJson(r.provider, 'acct'));
  });

  it('names what is wrong: an unknown node, a provider that is not the node\'s, a bad timeout', async () => {
    await expect(waitForSync(r.subscriber, 'nope')).rejects.toBeInstanceOf(NodeNotFoundError);
    const notProvider = await pgferry(['replicate', 'wait-provider', '--provider', r.subscriberUrl, '--subscriber', r.subscriberUrl, '--node', 'leaf1']);
    expect(notProvider.code).toBe(1);
    expect(notProvider.stderr).toMatch(/neither a root nor a branch/);
    const badTimeout = await pgferry(['replicate', 'wait-sync', '--subscriber', r.subscriberUrl, '--node', 'leaf1', '--timeout', 'soon']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/--timeout.*seconds/);
  });
  it('wait-root refuses a root that serves another queue than the subscription\'s, naming both', async () => {
    const other = await newDatabase(r.providerServer, 'other_root');
    await createRootNode(other.pool, { node: 'other', queue: 'elsewhere' });
    // Without the check it would wait for a tick of queue "elsewhere" (a low id that leaf1,
    // reading "repl", passed long ago) and return at once.
    const refused = await waitForRoot(other.pool, r.subscriber, 'leaf1', { timeoutMs: 1000 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ReplicationSetupError);
    expect((refused as Error).message).toMatch(/^node "leaf1" reads queue "repl", not the root's "elsewhere" \(node "other"\)/);
    const cli = await pgferry(['replicate', 'wait-root', '--root', other.url, '--subscriber', r.subscriberUrl, '--node', 'leaf1', '--timeout', '1']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/node "leaf1" reads queue "repl", not the root's "elsewhere" \(node "other"\)/);
  });

  it('wait-provider from a branch: times out naming the root\'s tick the branch applied last while the leaf applies nothing; ends once it does', { timeout: 180_000 }, async () => {
    // root -> branch -> leaf2, in new databases of the two servers. The quiet root makes no
    // idle ticks: the leaf's table is handed over at a tick its catch-up asks for, which the
    // branch's worker passes up to the root (a branch makes no ticks of its own).
    await setQueueConfig(r.provider, 'repl', { ticker_idle_period: '1 hour' });
    const branch = await newDatabase(r.subscriberServer, 'branch');
    const leaf = await newDatabase(r.providerServer, 'leaf2');
    await createBranchNode(r.provider, branch.pool, { node: 'branch', providerLocation: r.providerUrl, location: branch.url });
    await addTable(r.provider, branch.pool, { subscription: 'branch', table: 'acct', create: true });
    startWorker('branch', branch.url);
    await waitForSync(branch.pool, 'branch', { timeoutMs: 120_000 });
    await createLeafNode(branch.pool, leaf.pool, { node: 'leaf2', providerLocation: branch.url, location: leaf.url });
    await addTable(branch.pool, leaf.pool, { subscription: 'leaf2', table: 'acct', create: true });
    startWorker('leaf2', leaf.url);
    await waitForSync(leaf.pool, 'leaf2', { timeoutMs: 120_000 });
    await waitForProvider(branch.pool, leaf.pool, 'leaf2', { timeoutMs: 120_000 });

    // The branch moves on, the leaf does not; then the branch stops too (the root's idle
    // ticks would move it on meanwhile), so the tick to wait for is known.
    await stopWorker('leaf2');
    const leafAt = await appliedTick(leaf.pool, 'leaf2');
    await r.provider.query('UPDATE acct SET balance = balance + 5 WHERE id % 11 = 0');
    await waitForRoot(r.provider, branch.pool, 'branch', { timeoutMs: 120_000 });
    await stopWorker('branch');
    const branchAt = await appliedTick(branch.pool, 'branch');
    expect(branchAt).toBeGreaterThan(leafAt);
    expect(await tableJson(branch.pool, 'acct')).toBe(await tableJson(r.provider, 'acct'));

    const timedOut = await waitForProvider(branch.pool, leaf.pool, 'leaf2', { timeoutMs: 1000 }).catch((err: unknown) => err);
    expect(timedOut).toBeInstanceOf(WaitTimeoutError);
    expect((timedOut as Error).message).toMatch(new RegExp(`^node "leaf2": tick ${branchAt} not applied yet \\(applied: ${leafAt}\\) after \\d+\\.\\d s\\b`));
    expect(await tableJson(leaf.pool, 'acct')).not.toBe(await tableJson(branch.pool, 'acct'));

    const waiting = waitForProvider(branch.pool, leaf.pool, 'leaf2', { timeoutMs: 120_000 });
    startWorker('branch', branch.url);
    startWorker('leaf2', leaf.url);
    const done = await waiting;
    expect(done.targetTick).toBe(String(branchAt));
    expect(BigInt(done.appliedTick)).toBeGreaterThanOrEqual(branchAt);
    expect(await tableJson(leaf.pool, 'acct')).toBe(await tableJson(r.provider, 'acct'));
  });
});
