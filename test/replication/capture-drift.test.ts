/**
 * Never silent divergence: where DDL is not followed by event triggers, a replicated table
 * whose columns change on the provider by DDL run directly (not through execute) stops the stream with an error naming the table and
 * the columns, before any change written after the DDL is applied; putting the same change
 * into the stream (execute, written as a no-op where done already) lets it go on, and a
 * repair makes the table equal again. A rename is caught the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureDriftError, addTable, compareTable, executeSql, getStatus, listTables } from '@pgferry/replicator';
import { captureDrift } from '@pgferry/queue';
import { startReplication, stopReplication, tableJson, waitFor, type Replication } from './helpers.js';

describe('columns changed outside execute', () => {
  let r: Replication;
  const same = async () => (await tableJson(r.provider, 'items')) === (await tableJson(r.subscriber, 'items'));
  const lastError = async () => (await getStatus(r.subscriber, 'leaf1')).lastError;

  beforeAll(async () => {
    r = await startReplication('drift');
    // As where the installing role may not create event triggers (ddl-follow.test.ts is the other case).
    await r.provider.query(`SELECT pgferry.capture_ddl_follow(false)`);
    await r.provider.query(`CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)`);
    await r.provider.query(`CREATE TABLE other (id int PRIMARY KEY, v text NOT NULL)`);
    await r.provider.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', create: true });
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'other', create: true });
    await waitFor('tables ok', async () => (await listTables(r.subscriber, 'leaf1')).every((t) => t.state === 'ok'));
  });
  afterAll(() => stopReplication(r));

  it('stops before the first change written after a column was added directly, naming table and column; execute lets it go on', async () => {
    await r.provider.query(`UPDATE items SET v = 'before' WHERE id <= 10`);
    await waitFor('the change before the DDL', same, 30_000);
    // Directly, with writes of the new column and of another table around it.
    await r.provider.query(`BEGIN; ALTER TABLE items ADD COLUMN qty int DEFAULT 1; UPDATE items SET qty = 5, v = 'with qty' WHERE id <= 20; COMMIT`);
    await r.provider.query(`INSERT INTO other VALUES (1, 'after the DDL')`);
    expect(await captureDrift(r.provider, 'repl')).toEqual([{ table: 'public.items', columnsCaptured: ['id', 'v'], columnsNow: ['id', 'v', 'qty'] }]);
    await waitFor('the error', async () => (await lastError()) !== null, 30_000);
    expect(await lastError()).toMatch(/columns of replicated table public\.items changed on the provider outside `pgferry replicate execute`: "qty" not captured.*ADD COLUMN IF NOT EXISTS/);
    // Stopped before the batch: neither the new values nor the other table's row arrived.
    expect((await r.subscriber.query(`SELECT count(*)::int AS n FROM items WHERE v = 'with qty'`)).rows[0].n).toBe(0);
    expect((await r.subscriber.query(`SELECT count(*)::int AS n FROM other`)).rows[0].n).toBe(0);

    await executeSql(r.provider, { name: 'qty.sql', sql: `ALTER TABLE items ADD COLUMN IF NOT EXISTS qty int DEFAULT 1` });
    expect(await captureDrift(r.provider, 'repl')).toEqual([]);
    await r.provider.query(`UPDATE items SET qty = 7 WHERE id = 30`);
    await waitFor('the stream going on', async () => (await r.subscriber.query(`SELECT qty FROM items WHERE id = 30`)).rows[0]?.qty === 7, 30_000);
    await waitFor('no error', async () => (await lastError()) === null, 30_000);
    expect((await r.subscriber.query(`SELECT v FROM other WHERE id = 1`)).rows).toEqual([{ v: 'after the DDL' }]);
    // qty written before the execute did not travel: compare finds exactly those rows, repair fixes them.
    const found = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items' });
    expect([...found.changed].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `(${i + 1})`).sort());
    await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', repair: true });
    expect(await same()).toBe(true);
  });

  it('catches a column renamed directly, and the typed error says which', async () => {
    await r.provider.query(`ALTER TABLE items RENAME COLUMN v TO label`);
    await r.provider.query(`UPDATE items SET label = 'renamed' WHERE id = 1`);
    await waitFor('the error', async () => (await lastError()) !== null, 30_000);
    expect(await lastError()).toMatch(/public\.items .*"label" not captured; "v" gone \(renamed or dropped\)/);
    const err = new CaptureDriftError('public.items', ['label'], ['v']);
    expect([err.name, err.table, err.added, err.gone]).toEqual(['CaptureDriftError', 'public.items', ['label'], ['v']]);
    await executeSql(r.provider, {
      name: 'label.sql',
      sql: `DO $$ BEGIN ALTER TABLE items RENAME COLUMN v TO label; EXCEPTION WHEN undefined_column THEN NULL; END $$`,
    });
    await waitFor('the rename and the row', same, 30_000);
    expect((await listTables(r.subscriber, 'leaf1')).find((t) => t.source === 'public.items')!.columns).toEqual(['id', 'label', 'qty']);
  });
});
