/**
 * DDL run directly on the provider, followed by capture (event triggers) and applied by
 * every subscriber at its point of the stream: columns added and filled in one transaction
 * with changes before and after them, renamed, retyped and dropped, a table renamed; a
 * subscriber that has the table under another name or takes a subset of its columns gets
 * the change on its own terms; a cascade passes it down, with writers running and the
 * worker killed; what subscribers could not repeat is refused on the provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTable, executeSql, getStatus, listTables } from '@pgferry/replicator';
import { addWorkloadTables, startCascade, stopCascade, waitIdentical, type Cascade } from './cascade-env.js';
import { rng, startReplication, stopReplication, tableJson, waitFor, type Replication } from './helpers.js';
import { Workload, ledgerDuplicates } from './workload.js';

const columnsOf = async (db: Replication['provider'], table: string) =>
  (
    await db.query<{ c: string }>(
      `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum) AS c
         FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
      [table],
    )
  ).rows[0]!.c;

describe('DDL followed: two servers', () => {
  let r: Replication;
  let writing = true;
  let writer: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    r = await startReplication('ddl-follow');
    await r.provider.query(`CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL, gone text, n int)`);
    await r.provider.query(`INSERT INTO items SELECT g, 'v' || g, 'g', g FROM generate_series(1, 2000) g`);
    await r.provider.query(`CREATE TABLE part (id int PRIMARY KEY, a text, b text)`);
    await r.provider.query(`INSERT INTO part SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 500) g`);
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', create: true });
    // Another name on the subscriber, and a subset of the columns.
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'part', dest: 'part_copy', columns: ['id', 'a'], create: true });
    await waitFor('tables ok', async () => (await listTables(r.subscriber, 'leaf1')).every((t) => t.state === 'ok'));
    // A writer on part all along (its table changes under it).
    let k = 10_000;
    writer = (async () => {
      while (writing) {
        await r.provider.query(`INSERT INTO part (id, a) VALUES ($1, 'live')`, [++k]);
        await r.provider.query(`UPDATE part SET a = a || '+' WHERE id = $1`, [k % 500]);
      }
    })();
  });
  afterAll(async () => {
    writing = false;
    await writer.catch(() => undefined);
    await stopReplication(r);
  });

  it('applies columns added and filled, renamed, retyped and dropped in one transaction, and a table renamed, at their point of the stream', { timeout: 120_000 }, async () => {
    const c = await r.provider.connect();
    try {
      // The writer's session settings do not change what the subscriber gets.
      await c.query('BEGIN');
      await c.query(`SET LOCAL TimeZone = 'America/Sao_Paulo'; SET LOCAL DateStyle = 'German'`);
      await c.query(`UPDATE items SET v = v || '-before' WHERE id <= 100`);
      await c.query(`ALTER TABLE items ADD COLUMN note text NOT NULL DEFAULT 'none', ADD COLUMN at timestamptz DEFAULT now()`);
      await c.query(`UPDATE items SET note = 'n' || id WHERE id % 2 = 0`);
      await c.query(`ALTER TABLE items RENAME COLUMN v TO label`);
      await c.query(`ALTER TABLE items ALTER COLUMN n TYPE bigint, DROP COLUMN gone`);
      await c.query(`INSERT INTO items VALUES (5000, 'after', 5000000000, 'new note', '2021-06-01 12:00+02')`);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    await r.provider.query(`ALTER TABLE items RENAME TO goods`);
    await r.provider.query(`UPDATE goods SET label = 'renamed table' WHERE id BETWEEN 10 AND 20`);
    await r.provider.query(`ALTER TABLE part ADD COLUMN c int DEFAULT 5`);
    await r.provider.query(`ALTER TABLE part RENAME COLUMN b TO b2`); // not replicated here: left alone
    await r.provider.query(`UPDATE part SET c = 6 WHERE id <= 3`);
    writing = false;
    await writer;

    await waitFor('items identical to goods', async () => (await tableJson(r.provider, 'goods')) === (await tableJson(r.subscriber, 'items')));
    expect(await columnsOf(r.subscriber, 'items')).toBe(
      'id integer not null, label text not null, n bigint, note text not null, at timestamp with time zone',
    );
    expect((await r.subscriber.query(`SELECT pg_get_expr(adbin, adrelid) AS d FROM pg_attrdef WHERE adrelid = 'items'::regclass`)).rows).toEqual([
      { d: `'none'::text` },
      { d: 'now()' },
    ]);
    await waitFor('part_copy identical', async () => (await tableJson(r.provider, 'part', 'id', 'id, a, c')) === (await tableJson(r.subscriber, 'part_copy', 'id', 'id, a, c')));
    expect(await columnsOf(r.subscriber, 'part_copy')).toBe('id integer not null, a text, c integer');
    const tables = await listTables(r.subscriber, 'leaf1');
    expect(tables.map((t) => [t.source, t.dest, t.columns])).toEqual([
      ['public.goods', 'public.items', ['id', 'label', 'n', 'note', 'at']],
      ['public.part', 'public.part_copy', ['id', 'a', 'c']],
    ]);
    expect((await getStatus(r.subscriber, 'leaf1')).lastError).toBeNull();
  });

  it('refuses on the provider what subscribers could not repeat, and the stream goes on', async () => {
    await expect(r.provider.query(`ALTER TABLE goods ADD COLUMN r float8 DEFAULT random()`)).rejects.toThrow(/gave its existing rows different values/);
    await expect(r.provider.query(`ALTER TABLE goods DROP COLUMN id CASCADE`)).rejects.toThrow(/drops key column\(s\) id/);
    await expect(r.provider.query(`DROP TABLE goods`)).rejects.toThrow(/cannot be dropped/);
    // (A change with USING goes through execute: every subscriber runs the statement itself.)
    await expect(r.provider.query(`ALTER TABLE goods ALTER COLUMN label TYPE int USING length(label)`)).rejects.toThrow(/with USING/);
    await r.provider.query(`UPDATE goods SET label = 'still going' WHERE id = 1`);
    await waitFor('the stream goes on', async () => (await tableJson(r.provider, 'goods')) === (await tableJson(r.subscriber, 'items')), 30_000);
  });
});

describe('DDL followed: a cascade under load', () => {
  let c: Cascade;
  beforeAll(async () => {
    c = await startCascade();
  }, 120_000);
  afterAll(() => stopCascade(c));

  it('passes a direct ALTER and an execute down root -> branch -> leaf, with writers running and the worker killed', { timeout: 600_000 }, async () => {
    await c.worker.start();
    await addWorkloadTables(c.root.pool, c.branch.pool, 'branch');
    await addWorkloadTables(c.branch.pool, c.leaf.pool, 'leaf');
    // The branch follows as a node without event triggers does: its capture of the tables
    // (guard views and all) follows each change as the worker applies it.
    await c.branch.pool.query('SELECT pgferry.capture_ddl_follow(false)');
    const load = new Workload(() => c.root.pool, 4242).start();
    const kills = c.worker.killRepeatedly(4, rng(4242));
    await c.root.pool.query(`BEGIN; ALTER TABLE acct ADD COLUMN tier int NOT NULL DEFAULT 1; UPDATE acct SET tier = 2 WHERE id % 7 = 0; COMMIT`);
    await c.root.pool.query(`ALTER TABLE pairs ALTER COLUMN v TYPE bigint`);
    await executeSql(c.root.pool, { name: 'logs-level.sql', sql: `ALTER TABLE logs ADD COLUMN level text; UPDATE logs SET level = 'info' WHERE k % 3 = 0` });
    await c.root.pool.query(`UPDATE acct SET tier = tier + 10 WHERE id <= 50`);
    await kills;
    await load.stop();
    await waitIdentical([c.root, c.branch, c.leaf]);
    for (const n of [c.branch, c.leaf]) {
      expect(await ledgerDuplicates(n.pool)).toEqual([]);
      expect(await columnsOf(n.pool, 'acct')).toBe(await columnsOf(c.root.pool, 'acct'));
      expect(await columnsOf(n.pool, 'pairs')).toBe(await columnsOf(c.root.pool, 'pairs'));
      expect(await columnsOf(n.pool, 'logs')).toBe(await columnsOf(c.root.pool, 'logs'));
    }
    // The branch's own capture followed: nothing stops its leaf.
    expect((await getStatus(c.leaf.pool, 'leaf')).lastError).toBeNull();
  });
});
