/**
 * wait-sync, wait-provider (Londiste's commands): when a wait returns, the subscriber holds
 * what it promises, read at once, without polling: every table 'ok'; every change committed
 * on the provider before the call, also one whose transaction was open when the newest tick
 * was taken (a consumer at that tick reads "nothing pending" although the change comes in the
 * next batch). A wait cannot end while nothing applies: with the worker stopped it times out,
 * saying which tick it waited for. Bad input names what is wrong. (wait-root, and
 * wait-provider from a branch: cascade.test.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceTick } from '@pgferry/queue';
import { NodeNotFoundError, SubscriptionWorker, WaitTimeoutError, addTable, listTables, waitForProvider, waitForSync } from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { startReplication, stopReplication, tableJson, type Replication } from './helpers.js';

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
  afterAll(() => stopReplication(r));

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
});
