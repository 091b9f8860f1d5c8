/**
 * A table's catch-up reaches the main stream and is handed over even when ticks come
 * faster than batches can be applied: both streams take one tick range a step, so the
 * main stream waits for a catch-up that is moving and behind it.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { forceTick } from '@pgferry/queue';
import { SubscriptionWorker, addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { tableJson, waitFor, waitForApplied } from './helpers.js';

describe('catch-up under a flood of ticks', () => {
  const prov = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });

  it('hands the table over while ticks come as fast as they can be made', async () => {
    await prov.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20000) g`);
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    await createLeafNode(prov.pool, sub.pool, { node: 'leaf' });
    const w = new SubscriptionWorker({ subscription: 'leaf', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20 }).start();
    let flooding = true;
    let ticks = 0;
    const flood = (async () => {
      for (let k = 0; flooding; k++) {
        await prov.pool.query(`UPDATE t SET v = 'w' || $1 WHERE id = $2`, [k, (k % 20000) + 1]);
        await forceTick(prov.pool, 'repl');
        ticks++;
      }
    })();
    try {
      await addTable(prov.pool, sub.pool, { subscription: 'leaf', table: 't', create: true });
      await waitFor('the hand-off', async () => (await listTables(sub.pool, 'leaf'))[0]?.state === 'ok', 120_000);
      expect(ticks).toBeGreaterThan(50);
    } finally {
      flooding = false;
      await flood;
    }
    // The flood left one batch per tick to apply (as many as it made on a loaded machine):
    // wait for a tick after the last update, then compare once.
    await waitForApplied({ provider: prov.pool, subscriber: sub.pool }, 240_000, 'repl', 'leaf');
    expect(await tableJson(sub.pool, 't')).toBe(await tableJson(prov.pool, 't'));
    await w.stop();
  }, 420_000);
});
