/**
 * One worker process serving two subscriptions (two leaves of one root), several tables
 * copied in parallel on each, while the provider keeps writing.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  ReplicationWorker,
  addTable,
  createLeafNode,
  createRootNode,
  getStatus,
  listTables,
} from '@pgferry/replicator';
import { tableJson, waitFor } from './helpers.js';

describe('one worker, two subscriptions', () => {
  const prov = useTestDatabase({ install: false });
  const leafA = useTestDatabase({ install: false });
  const leafB = useTestDatabase({ install: false });

  it('copies tables in parallel and keeps both leaves identical to the root', async () => {
    const tables = ['t1', 't2', 't3'];
    for (const [i, t] of tables.entries()) {
      await prov.pool.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text, n numeric)`);
      await prov.pool.query(`INSERT INTO ${t} SELECT g, md5(g::text), g / 3.0 FROM generate_series(1, ${20000 * (i + 1)}) g`);
    }
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    await prov.pool.query(`SELECT pgferry.set_queue_config('repl', 'ticker_max_lag', '100 milliseconds')`);
    await createLeafNode(prov.pool, leafA.pool, { node: 'a' });
    await createLeafNode(prov.pool, leafB.pool, { node: 'b' });
    for (const t of tables) {
      await addTable(prov.pool, leafA.pool, { subscription: 'a', table: t, create: true });
    }
    // Leaf b takes two of them, one under another name and with a column subset.
    await addTable(prov.pool, leafB.pool, { subscription: 'b', table: 't1', create: true });
    await addTable(prov.pool, leafB.pool, { subscription: 'b', table: 't3', create: true, dest: 'renamed', columns: ['id', 'n'] });

    let writing = true;
    let k = 1_000_000;
    const writer = (async () => {
      while (writing) {
        for (const t of tables) {
          await prov.pool.query(`INSERT INTO ${t} VALUES ($1, 'live', 0)`, [++k]);
          await prov.pool.query(`UPDATE ${t} SET n = n + 1 WHERE id = $1`, [k % 20000]);
          await prov.pool.query(`DELETE FROM ${t} WHERE id = $1`, [(k * 13) % 20000]);
        }
      }
    })();

    // Leaf a's three tables are locked while the worker starts: its copies pile up behind the
    // lock, and three of them waiting at once proves they run side by side (a worker copying
    // one table at a time would have one waiting, whatever the machine's load).
    const blocker = await leafA.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE t1, t2, t3 IN ACCESS EXCLUSIVE MODE');

    const worker = new ReplicationWorker({
      subscriptions: [
        { subscription: 'a', provider: prov.url, subscriber: leafA.url, parallelCopies: 3, pollIntervalMs: 50 },
        { subscription: 'b', provider: prov.url, subscriber: leafB.url, parallelCopies: 2, pollIntervalMs: 50 },
      ],
      tickIntervalMs: 20,
    }).start();
    try {
      try {
        await waitFor('three copies waiting at once', async () => {
          const { rows } = await leafA.pool.query(
            `SELECT count(DISTINCT relation)::int AS n FROM pg_locks WHERE NOT granted AND relation IN ('t1'::regclass, 't2'::regclass, 't3'::regclass)`,
          );
          return rows[0].n === 3;
        });
      } finally {
        await blocker.query('COMMIT');
        blocker.release();
      }
      await waitFor('all tables ok', async () => {
        const all = [...(await listTables(leafA.pool, 'a')), ...(await listTables(leafB.pool, 'b'))];
        return all.every((t) => t.state === 'ok');
      });
      writing = false;
      await writer;
      await waitFor('leaves identical to the root', async () => {
        for (const t of tables) if ((await tableJson(prov.pool, t)) !== (await tableJson(leafA.pool, t))) return false;
        return (
          (await tableJson(prov.pool, 't1')) === (await tableJson(leafB.pool, 't1')) &&
          (await tableJson(prov.pool, 't3', 'id', 'id, n')) === (await tableJson(leafB.pool, 'renamed', 'id', 'id, n'))
        );
      });
      const sa = await getStatus(leafA.pool, 'a', prov.pool);
      expect(sa.tables.map((t) => [t.source, t.state, t.copy!.rows > 0])).toEqual(tables.map((t) => [`public.${t}`, 'ok', true]));
      const sb = await getStatus(leafB.pool, 'b', prov.pool);
      expect(sb.tables.map((t) => t.dest)).toEqual(['public.t1', 'public.renamed']);
      const cols = await leafB.pool.query(`SELECT string_agg(attname, ',' ORDER BY attnum) AS c FROM pg_attribute WHERE attrelid = 'renamed'::regclass AND attnum > 0`);
      expect(cols.rows[0].c).toBe('id,n');
    } finally {
      writing = false;
      await writer;
      await worker.stop();
    }
  });
});
