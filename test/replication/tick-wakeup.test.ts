/**
 * The worker wakes on the provider's tick (LISTEN pgferry_tick) rather than at its next
 * poll: with a poll of a minute, each committed row still reaches the subscriber, one after
 * another, within the test's timeouts; with `listen: false` the same worker polls.
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
    } finally {
      await worker.stop();
    }
  });
});
