/**
 * A lost connection at any point of the worker is noticed, logged, reported (stats, status)
 * and recovered from, and stop() returns promptly even then: backends of every kind the
 * worker uses are terminated (pg_terminate_backend) in the middle of their work.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { forceTick } from '@pgferry/queue';
import {
  ReplicationWorker,
  SubscriptionWorker,
  addTable,
  createLeafNode,
  createRootNode,
  getStatus,
  listTables,
} from '@pgferry/replicator';
import { TcpProxy } from '../harness/tcp-proxy.js';
import { rng, tableJson, waitFor } from './helpers.js';

const SEED = Number(process.env.PGFERRY_FAULT_SEED ?? Date.now() % 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Short bounds, so that a test sees each of them fire. */
const TIMEOUTS = { connectMs: 2000, statementMs: 3000, queryMs: 4000, idleInTransactionMs: 10_000, keepAliveMs: 1000, copyStallMs: 3000 };

/** A writer on the provider (inserts, updates, deletes, key changes, rollbacks) until stopped. */
function writer(db: pg.Pool, table: string, random: () => number, first: number) {
  let next = first;
  let stopping = false;
  const stats = { commits: 0, rollbacks: 0, errors: 0 };
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const ops = [
    (c: pg.PoolClient) => c.query(`INSERT INTO ${table} VALUES ($1, 'new')`, [++next]),
    (c: pg.PoolClient) => c.query(`INSERT INTO ${table} SELECT g, 'bulk' FROM generate_series($1::int, $1::int + 99) g`, [(next += 100) - 99]),
    (c: pg.PoolClient) => c.query(`UPDATE ${table} SET v = v || '+' WHERE id = $1`, [int(1, next)]),
    (c: pg.PoolClient) => c.query(`DELETE FROM ${table} WHERE id = $1`, [int(1, next)]),
    (c: pg.PoolClient) => c.query(`UPDATE ${table} SET id = $1 WHERE id = $2`, [++next, int(1, next)]),
  ];
  const loop = (async () => {
    while (!stopping) {
      const c = await db.connect();
      try {
        await c.query('BEGIN');
        for (let i = int(1, 4); i > 0; i--) await ops[int(0, ops.length - 1)]!(c);
        if (random() < 0.2) {
          await c.query('ROLLBACK');
          stats.rollbacks++;
        } else {
          await c.query('COMMIT');
          stats.commits++;
        }
      } catch {
        stats.errors++;
        await c.query('ROLLBACK').catch(() => undefined);
      } finally {
        c.release();
      }
      await sleep(int(0, 10));
    }
  })();
  return {
    stats,
    stop: async () => {
      stopping = true;
      await loop;
    },
  };
}

/** Terminate the backends of `db`'s database whose query matches `pattern`; how many. */
async function terminate(db: pg.Pool, pattern: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query ~ $1`, // active: running it now (an idle session still shows its last query)
    [pattern],
  );
  return rows[0]!.n;
}

describe('connection loss in the worker', () => {
  const prov = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });
  let nodes: Promise<unknown> | undefined;
  /** The root and leaf nodes, made by the first test that runs. */
  const ensureNodes = () =>
    (nodes ??= createRootNode(prov.pool, { node: 'root', queue: 'repl' }).then(() => createLeafNode(prov.pool, sub.pool, { node: 'leaf1' })));

  it('a provider backend killed while it reads a batch: logged, reported, recovered; stop() returns', async () => {
    await prov.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await ensureNodes();
    await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 't', create: true });
    const logs: string[] = [];
    const w = new SubscriptionWorker({
      subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20, retryMinMs: 50,
      fetchSize: 5, // many round trips: the read is in progress for a while
      log: (level, m) => logs.push(`${level} ${m}`),
    }).start();
    try {
      await waitFor('hand-off', async () => (await listTables(sub.pool, 'leaf1'))[0]?.state === 'ok');
      // A batch big enough to be read in many fetches.
      await prov.pool.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 30000) g`);
      await forceTick(prov.pool, 'repl');
      let killed = 0;
      await waitFor('the batch read to be killed', async () => (killed += await terminate(prov.pool, '^SELECT ev_id')) > 0, 30_000, 5);
      await waitFor('the error to be reported', async () => (await getStatus(sub.pool, 'leaf1', prov.pool)).lastError !== null || w.stats.errors > 0, 20_000);
      // The server's "terminating connection", or the reset socket when the worker wrote first.
      expect(w.stats.lastError ?? '').toMatch(/terminat|ECONNRESET/i);
      expect(logs.join('\n')).toMatch(/main: .*(terminat|ECONNRESET)/i);
      await forceTick(prov.pool, 'repl');
      await waitFor('tables equal', async () => (await tableJson(prov.pool, 't')) === (await tableJson(sub.pool, 't')), 60_000);
    } finally {
      await w.stop();
    }
    // No session of the worker is left idle in a transaction on either side.
    for (const db of [prov.pool, sub.pool]) {
      const { rows } = await db.query(
        `SELECT state, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in%'`,
      );
      expect(rows).toEqual([]);
    }
  });

  it(`backends of every kind terminated at random points: the worker recovers, nothing lost (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const random = rng(SEED);
    await ensureNodes();
    await prov.pool.query('CREATE TABLE k (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO k SELECT g, 'v' || g FROM generate_series(1, 20000) g`);
    await prov.pool.query('CREATE TABLE k2 (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO k2 SELECT g, 'w' || g FROM generate_series(1, 20000) g`);
    await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'k', create: true });
    const w = new ReplicationWorker({
      subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20, retryMinMs: 50, retryMaxMs: 500, fetchSize: 200, timeouts: TIMEOUTS }],
      tickIntervalMs: 50,
      timeouts: TIMEOUTS,
    }).start();
    const writers = [writer(prov.pool, 'k', random, 1_000_000), writer(prov.pool, 'k2', random, 1_000_000)];
    // Worker backends by what they run; the test's own queries are left alone.
    const targets: [string, pg.Pool, string][] = [
      ['provider batch read', prov.pool, '^SELECT ev_id'],
      ['provider next_batch/finish_batch', prov.pool, 'pgferry\\.(next_batch|finish_batch|get_batch_info|batch_event_sql)|batch_info'],
      ['provider copy', prov.pool, '^COPY \\(SELECT'],
      ['provider ticker/maintenance', prov.pool, 'pgferry\\.(ticker|maint_operations)|advisory_lock\\(\\$1\\)'],
      ['subscriber apply', sub.pool, '^(INSERT|UPDATE|DELETE|WITH|SELECT pgferry|UPDATE pgferry)|lock_applied|at_tick'],
      ['subscriber copy', sub.pool, '^COPY .* FROM STDIN|^TRUNCATE'],
      ['subscriber lock', sub.pool, 'pg_try_advisory_lock|^SELECT 1$'],
      ['any worker backend', sub.pool, '.'],
      ['any worker backend', prov.pool, 'pgferry|^SELECT ev_id|^COPY'],
    ];
    const killed = new Map<string, number>();
    const terminateWorker = async (db: pg.Pool, pattern: string) => {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND query ~ $1 AND query !~ 'json_agg|pg_terminate_backend|pg_stat_activity|generate_series|VALUES \\(\\$1|SET v = v|SET id = \\$1|DELETE FROM k'`,
        [pattern],
      );
      return rows[0]!.n;
    };
    try {
      const started = Date.now();
      let added = false;
      let rounds = 0;
      while (Date.now() - started < 20_000) {
        if (!added && Date.now() - started > 6000) {
          await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'k2', create: true });
          added = true;
        }
        await sleep(50 + Math.floor(random() * 300));
        const [what, db, pattern] = targets[Math.floor(random() * targets.length)]!;
        const n = await terminateWorker(db, pattern).catch(() => 0);
        if (n) killed.set(what, (killed.get(what) ?? 0) + n);
        rounds++;
      }
      await Promise.all(writers.map((x) => x.stop()));
      await waitFor('k and k2 identical', async () =>
        (await listTables(sub.pool, 'leaf1')).every((t) => t.state === 'ok') &&
        (await tableJson(prov.pool, 'k')) === (await tableJson(sub.pool, 'k')) &&
        (await tableJson(prov.pool, 'k2')) === (await tableJson(sub.pool, 'k2')), 120_000, 250);
      const [stats] = w.stats();
      console.log(`seed ${SEED}: ${rounds} rounds, backends terminated: ${JSON.stringify(Object.fromEntries(killed))}; worker errors ${stats!.errors} (${stats!.connectionErrors} connection)`);
      expect(stats!.connectionErrors).toBeGreaterThan(0);
      expect([...killed.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
      expect(writers.every((x) => x.stats.commits > 0 && x.stats.rollbacks > 0)).toBe(true);
    } finally {
      await Promise.all(writers.map((x) => x.stop()));
      await w.stop();
    }
  });

  it('connections dropped, stalled and half-open through a TCP proxy, on each side: noticed, reported, recovered; stop() returns while stalled', { timeout: 180_000 }, async () => {
    const random = rng(SEED + 1);
    await ensureNodes();
    await prov.pool.query('CREATE TABLE p (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO p SELECT g, 'v' || g FROM generate_series(1, 5000) g`);
    await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'p', create: true });
    const [pp, sp] = await Promise.all([TcpProxy.start(Number(new URL(prov.url).port)), TcpProxy.start(Number(new URL(sub.url).port))]);
    const logs: string[] = [];
    const make = () =>
      new ReplicationWorker({
        subscriptions: [{
          subscription: 'leaf1', provider: pp.url(prov.url), subscriber: sp.url(sub.url), pollIntervalMs: 20, retryMinMs: 50, retryMaxMs: 500,
          fetchSize: 100, timeouts: TIMEOUTS, stopTimeoutMs: 2000, log: (level, m) => logs.push(`${level} ${m}`),
        }],
        tickIntervalMs: 50,
        timeouts: TIMEOUTS,
      }).start();
    let w = make();
    const wr = writer(prov.pool, 'p', random, 1_000_000);
    const faults: string[] = [];
    try {
      const sides: [string, TcpProxy][] = [['provider', pp], ['subscriber', sp]];
      for (const [side, proxy] of sides) {
        for (const fault of ['drop', 'stall', 'half-open'] as const) {
          await sleep(300 + Math.floor(random() * 700));
          const before = w.stats()[0]!.connectionErrors;
          if (fault === 'drop') proxy.drop();
          else if (fault === 'stall') proxy.stall();
          else proxy.halfOpen();
          faults.push(`${side} ${fault}`);
          if (fault !== 'drop') {
            // Noticed while the fault lasts: the bounds fire, not a hang.
            await waitFor(`${side} ${fault} to be noticed`, async () => w.stats()[0]!.connectionErrors > before, 30_000);
            proxy.resume();
          }
          await waitFor(`recovery after ${side} ${fault}`, async () => {
            const st = w.stats()[0]!;
            return st.active && st.failing.length === 0 && (fault === 'drop' || st.connectionErrors > before);
          }, 60_000);
        }
      }
      // The subscriber side stalls while the worker is asked to stop: stop() still returns.
      sp.stall();
      await sleep(500);
      const noticed = w.stats()[0]!.connectionErrors;
      await w.stop();
      sp.resume();
      w = make();
      await wr.stop();
      await waitFor('p identical', async () => (await tableJson(prov.pool, 'p')) === (await tableJson(sub.pool, 'p')), 120_000, 250);
      const st = await getStatus(sub.pool, 'leaf1', prov.pool);
      expect(st.lastError).toBeNull();
      expect(st.providerError).toBeNull();
      expect(logs.join('\n')).toMatch(/warn .*(Connection terminated|no answer)/);
      console.log(`faults: ${faults.join(', ')}; worker connection errors ${noticed}`);
    } finally {
      await wr.stop();
      await w.stop();
      await Promise.all([pp.close(), sp.close()]);
    }
  });
});
