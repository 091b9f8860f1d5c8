/**
 * DDL in stream order (execute): a SQL file runs on the provider and reaches every
 * subscriber at exactly its point of the stream; capture follows the new columns and
 * names; the same file again is recognised; a file that fails on a subscriber stops that
 * stream with an error naming it, and it goes on once the cause is fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addTable, executeSql, getStatus, listTables } from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { startReplication, stopReplication, tableJson, waitFor, type Replication } from './helpers.js';

describe('execute: DDL in stream order', () => {
  let r: Replication;
  const same = async () => (await tableJson(r.provider, 'items')) === (await tableJson(r.subscriber, 'items'));

  beforeAll(async () => {
    r = await startReplication('execute');
    await r.provider.query(`CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)`);
    await r.provider.query(`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 1000) g`);
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', create: true });
    await waitFor('items ok', async () => (await listTables(r.subscriber, 'leaf1'))[0]?.state === 'ok');
  });
  afterAll(() => stopReplication(r));

  it('adds and fills a column between changes before and after it; the subscriber replicates it from that point', async () => {
    await r.provider.query(`UPDATE items SET v = v || '-before' WHERE id <= 100`);
    const res = await executeSql(r.provider, {
      name: '001_note.sql',
      sql: `ALTER TABLE items ADD COLUMN note text; UPDATE items SET note = 'n' || id WHERE id % 2 = 0;`,
    });
    expect(res.status).toBe('executed');
    expect(res.tables).toEqual([{ table: 'public.items', previous: 'public.items', columnsBefore: ['id', 'v'], columnsAfter: ['id', 'v', 'note'] }]);
    // After it: writes that use the new column, in the same batch as the DDL or later.
    await r.provider.query(`INSERT INTO items VALUES (5000, 'after', 'new note')`);
    await r.provider.query(`UPDATE items SET note = 'changed' WHERE id BETWEEN 10 AND 20`);
    await waitFor('items identical with note', same, 30_000);
    expect((await r.subscriber.query(`SELECT note FROM items WHERE id = 5000`)).rows).toEqual([{ note: 'new note' }]);
    expect((await listTables(r.subscriber, 'leaf1'))[0]!.columns).toEqual(['id', 'v', 'note']);
    expect((await getStatus(r.subscriber, 'leaf1')).lastError).toBeNull();
  });

  it('recognises the same file, refuses another under its name, and leaves nothing of a file that fails on the provider', async () => {
    expect((await executeSql(r.provider, { name: '001_note.sql', sql: `ALTER TABLE items ADD COLUMN note text; UPDATE items SET note = 'n' || id WHERE id % 2 = 0;` })).status).toBe('skipped');
    await expect(executeSql(r.provider, { name: '001_note.sql', sql: 'SELECT 1' })).rejects.toThrow(/another file named "001_note.sql" was executed before/);
    const events = async () => (await r.provider.query(`SELECT count(*)::int AS n FROM pgferry.event WHERE ev_type = 'EXECUTE'`)).rows[0].n as number;
    const before = await events();
    await expect(executeSql(r.provider, { name: '002_bad.sql', sql: `ALTER TABLE items ADD COLUMN x int; ALTER TABLE nope ADD COLUMN y int;` })).rejects.toThrow(
      /002_bad.sql failed on the provider: relation "nope" does not exist/,
    );
    expect(await events()).toBe(before);
    expect((await r.provider.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'x'`)).rows[0].n).toBe(0);
    // Dropping a captured key is refused, and nothing of it stays.
    await expect(executeSql(r.provider, { name: '003_key.sql', sql: `ALTER TABLE items DROP COLUMN id CASCADE` })).rejects.toThrow(/key or ignored column\(s\) id/);
  });

  it('stops the stream on a file that fails on a subscriber, naming it; goes on once fixed', async () => {
    await r.subscriber.query(`CREATE INDEX items_v ON items (v)`); // the subscriber has the name already
    await executeSql(r.provider, { name: '004_index.sql', sql: `CREATE INDEX items_v ON items (v)` });
    await r.provider.query(`UPDATE items SET v = 'after the index' WHERE id = 1`);
    await waitFor('the error', async () => (await getStatus(r.subscriber, 'leaf1')).lastError !== null, 30_000);
    expect((await getStatus(r.subscriber, 'leaf1')).lastError).toMatch(/004_index.sql.*executing 004_index.sql on the subscriber: relation "items_v" already exists/);
    expect((await r.subscriber.query(`SELECT v FROM items WHERE id = 1`)).rows[0].v).not.toBe('after the index');
    await r.subscriber.query(`DROP INDEX items_v`);
    await waitFor('items identical', same, 30_000);
    await waitFor('no error', async () => (await getStatus(r.subscriber, 'leaf1')).lastError === null, 30_000);
  });

  it('follows a renamed column: later changes arrive under the new name', async () => {
    await executeSql(r.provider, { name: '005_rename.sql', sql: `ALTER TABLE items RENAME COLUMN note TO remark` });
    await r.provider.query(`UPDATE items SET remark = 'renamed' WHERE id <= 5`);
    await waitFor('items identical after the rename', same, 30_000);
    expect((await listTables(r.subscriber, 'leaf1'))[0]!.columns).toEqual(['id', 'v', 'remark']);
  });

  it('pgferry replicate execute runs files in order, says which were skipped, and exits 1 naming a file that fails', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-execute-'));
    const a = path.join(dir, '006_qty.sql');
    const b = path.join(dir, '007_bad.sql');
    writeFileSync(a, `ALTER TABLE items ADD COLUMN qty int NOT NULL DEFAULT 1;`);
    writeFileSync(b, `ALTER TABLE nope ADD COLUMN y int;`);
    const ok = await pgferry(['replicate', 'execute', '--provider', r.providerUrl, a]);
    expect([ok.code, ok.stdout.trim()]).toEqual([0, '006_qty.sql: executed, in the stream']);
    const again = await pgferry(['replicate', 'execute', '--provider', r.providerUrl, a, b, '--json']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/007_bad.sql failed on the provider: relation "nope" does not exist/);
    const missing = await pgferry(['replicate', 'execute', '--provider', r.providerUrl, path.join(dir, 'none.sql')]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/cannot read .*none\.sql/)]);
    await r.provider.query(`UPDATE items SET qty = 5 WHERE id = 2`);
    await waitFor('items identical with qty', same, 30_000);
  });
});
