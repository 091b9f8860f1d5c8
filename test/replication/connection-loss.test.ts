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
  SubscriptionWorker,
  addTable,
  createLeafNode,
  createRootNode,
  getStatus,
  listTables,
} from '../../packages/replicator/src/index.js';
import { tableJson, waitFor } from './helpers.js';

/** Terminate the backends of `db`'s database whose query matches `pattern`; how many. */
async function terminate(db: pg.Pool, pattern: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~ $1`,
    [pattern],
  );
  return rows[0]!.n;
}

describe('connection loss in the worker', () => {
  const prov = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });

  it('a provider backend killed while it reads a batch: logged, reported, recovered; stop() returns', async () => {
    await prov.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });
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
      expect(w.stats.lastError ?? '').toMatch(/terminat/i);
      expect(logs.join('\n')).toMatch(/main: .*terminat/i);
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
});
