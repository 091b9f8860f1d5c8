/**
 * The worker wakes on the provider's tick (LISTEN pgferry_tick) rather than at its next
 * poll: with a poll of a minute, each committed row still reaches the subscriber, one after
 * another, within the test's timeouts; with `listen: false` the same worker polls. The
 * worker's sessions on the provider are named (application_name).
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { waitFor } from './helpers.js';

describe('the worker wakes on ticks', () => {
  const prov = useTestDatabase({ install: false });
  const leaf = useTestDatabase({ install: false });

  it('applies each committed row at the tick after it, with a poll interval of a minute', async () => {
    await prov.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await createRootNode(prov.pool, { node: 'root', queue: 'q' });
    await createLeafNode(prov.pool, leaf.pool, { node: 'leaf' });
    await addTable(prov.pool, leaf.pool, { subscription: 'leaf', table: 't', create: true });
    const run = (pollIntervalMs: number) =>
      new ReplicationWorker({ subscriptions: [{ subscription: 'leaf', provider: prov.url, subscriber: leaf.url, pollIntervalMs }], tickIntervalMs: 50 }).start();
    // The copy and its hand-over at the usual poll.
    const first = run(50);
    try {
      await waitFor('t copied', async () => (await listTables(leaf.pool, 'leaf')).every((t) => t.state === 'ok'));
    } finally {
      await first.stop();
    }
    const worker = run(60_000);
    try {
      for (let id = 1; id <= 5; id++) {
        await prov.pool.query('INSERT INTO t VALUES ($1, $2)', [id, `row ${id}`]);
        await waitFor(`row ${id} on the subscriber`, async () => (await leaf.pool.query('SELECT 1 FROM t WHERE id = $1', [id])).rowCount === 1, 20_000);
      }
      expect(worker.stats()[0]!.lastError).toBeNull();
      // Every session the worker holds on the provider says what it is (its pool, its
      // ticker, its tick listener); the unnamed ones are this test's own pool.
      const { rows } = await prov.pool.query<{ name: string; n: number }>(
        `SELECT application_name AS name, count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1`,
      );
      const sessions = Object.fromEntries(rows.map((r) => [r.name, r.n]));
      expect(sessions['pgferry-ticker']).toBe(1);
      expect(sessions['pgferry-replicator']).toBeGreaterThanOrEqual(2);
      expect(sessions[''] ?? 0).toBe(prov.pool.totalCount - 1);
    } finally {
      await worker.stop();
    }
  });
});
