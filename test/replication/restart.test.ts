/**
 * Restart semantics of the main stream, step by step: a batch whose tick is recorded on the
 * subscriber is only finished (its changes are not applied again); an open batch that was
 * not recorded is applied once. Also `pgferry replicate` tables and status (--json).
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { forceTick, getBatchInfo, nextBatch } from '@pgferry/queue';
import {
  SubscriptionWorker,
  addTable,
  createLeafNode,
  createRootNode,
  getStatus,
  listTables,
} from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { tableJson, waitFor } from './helpers.js';


describe('restarts of the main stream', () => {
  const prov = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });

  it('finishes a batch recorded as applied, applies an unrecorded one once', async () => {
    await prov.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g`);
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });
    await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 't', create: true });

    const ticking = setInterval(() => void forceTick(prov.pool, 'repl').catch(() => undefined), 100);
    const w = new SubscriptionWorker({ subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20 }).start();
    try {
      await waitFor('copy and hand-off', async () => (await listTables(sub.pool, 'leaf1'))[0]?.state === 'ok');
    } finally {
      clearInterval(ticking);
      await w.stop();
    }
    await waitFor('tables equal', async () => (await tableJson(prov.pool, 't')) === (await tableJson(sub.pool, 't')));
    const stepper = new SubscriptionWorker({ subscription: 'leaf1', provider: prov.url, subscriber: sub.url });
    try {
      // Drain whatever batches are left.
      await forceTick(prov.pool, 'repl');
      while (await stepper.mainStep());

      // Crash after the subscriber commit, before finish_batch: the tick is recorded.
      await prov.pool.query(`INSERT INTO t VALUES (1001, 'recorded')`);
      await forceTick(prov.pool, 'repl');
      const b1 = (await nextBatch(prov.pool, 'repl', 'leaf1'))!;
      const info1 = await getBatchInfo(prov.pool, b1);
      // (As the commit records it: the tick's id, time and event counter.)
      await sub.pool.query('UPDATE pgferry.applied_tick SET at_tick_id = $1, at_tick_time = $2, at_event_seq = $3 WHERE at_subscription = $4', [
        info1.tickId,
        info1.batchEnd,
        info1.seqEnd,
        'leaf1',
      ]);
      expect(await stepper.mainStep()).toBe(true);
      expect((await sub.pool.query('SELECT count(*)::int AS n FROM t WHERE id = 1001')).rows[0].n).toBe(0);
      expect(await nextBatch(prov.pool, 'repl', 'leaf1')).toBeNull(); // finished, nothing new

      // Crash before the subscriber commit: the open batch comes again and is applied once.
      await prov.pool.query(`INSERT INTO t VALUES (1002, 'unrecorded')`);
      await prov.pool.query(`UPDATE t SET v = 'changed' WHERE id = 1`);
      await forceTick(prov.pool, 'repl');
      const b2 = (await nextBatch(prov.pool, 'repl', 'leaf1'))!;
      expect(await stepper.mainStep()).toBe(true);
      expect(await nextBatch(prov.pool, 'repl', 'leaf1')).toBeNull();
      const { rows } = await sub.pool.query(`SELECT id, v FROM t WHERE id IN (1, 1002) ORDER BY id`);
      expect(rows).toEqual([{ id: 1, v: 'changed' }, { id: 1002, v: 'unrecorded' }]);
      const at = await sub.pool.query('SELECT at_batch_id FROM pgferry.applied_tick');
      expect(at.rows[0].at_batch_id).toBe(b2);
    } finally {
      await stepper.stop();
    }
  });

  it('reports a copy that fails on the table, retries it, and copies once it can', async () => {
    await prov.pool.query('CREATE TABLE c (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO c SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'c', create: true });
    await sub.pool.query('ALTER TABLE c ADD CONSTRAINT short CHECK (length(v) < 4)'); // v100 and up fail
    const ticking = setInterval(() => void forceTick(prov.pool, 'repl').catch(() => undefined), 100);
    const w = new SubscriptionWorker({
      subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20, retryMinMs: 50, retryMaxMs: 200,
    }).start();
    try {
      await waitFor('the copy error in status', async () => {
        const t = (await getStatus(sub.pool, 'leaf1')).tables.find((x) => x.source === 'public.c')!;
        return t.state === 'in-copy' && /violates check constraint "short"/.test(t.lastError ?? '') && t.errors >= 2;
      });
      expect((await sub.pool.query('SELECT count(*)::int AS n FROM c')).rows[0].n).toBe(0); // nothing half copied
      await sub.pool.query('ALTER TABLE c DROP CONSTRAINT short');
      await waitFor('the copy to succeed', async () => {
        const t = (await getStatus(sub.pool, 'leaf1')).tables.find((x) => x.source === 'public.c')!;
        return t.state === 'ok' && t.lastError === null;
      });
      await waitFor('c identical', async () => (await tableJson(prov.pool, 'c')) === (await tableJson(sub.pool, 'c')));
    } finally {
      clearInterval(ticking);
      await w.stop();
    }
  });

  it('pgferry replicate shows tables and status (--json), with their handlers', async () => {
    const tables = await pgferry(['replicate', 'tables', '--subscriber', sub.url, '--node', 'leaf1']);
    expect(tables.code).toBe(0);
    expect(tables.stdout.trim().split('\n').map((l) => l.split(/\s+/))).toEqual([
      ['SOURCE', 'DEST', 'STATE', 'HANDLER', 'ARGS'],
      ['public.c', 'public.c', 'ok', 'row', '-'],
      ['public.t', 'public.t', 'ok', 'row', '-'],
    ]);
    const status = await pgferry(['replicate', 'status', '--subscriber', sub.url, '--provider', prov.url, '--node', 'leaf1', '--json']);
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout);
    expect(st).toMatchObject({ subscription: 'leaf1', queue: 'repl', lastError: null });
    expect(st.tables).toHaveLength(2);
    expect(st.tables[1]).toMatchObject({ source: 'public.t', dest: 'public.t', state: 'ok', missingUpdates: 0, handler: 'row', handlerArgs: {} });
    expect(st.tables[1].copy.rows).toBe(100);
    const text = await pgferry(['replicate', 'status', '--subscriber', sub.url, '--node', 'leaf1']);
    expect(text.stdout).toContain('public.t -> public.t: ok, handler row');
    const bad = await pgferry(['replicate', 'add-table', '--provider', prov.url, '--subscriber', sub.url, '--node', 'leaf1', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^pgferry: .*table "nope" does not exist on the provider/);
    const unknown = await pgferry(['replicate', 'tables', '--subscriber', sub.url, '--node', 'nosuchleaf']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });
});
