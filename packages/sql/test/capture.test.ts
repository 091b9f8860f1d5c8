/**
 * Change capture: triggers turn INSERT/UPDATE/DELETE/TRUNCATE into queue events with the
 * operation, table, key and row image, in statement mode (transition tables) and row mode.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';

interface Ev {
  type: string;
  table: string;
  key: unknown;
  data: Record<string, unknown> | null;
}

/** Events of the queue since the last call, in ev_id order (via a consumer and ticks). */
async function drain(pool: pg.Pool, queue: string): Promise<Ev[]> {
  await pool.query('SELECT pgferry.force_tick($1)', [queue]);
  const out: Ev[] = [];
  for (;;) {
    const { rows } = await pool.query<{ b: string | null }>('SELECT pgferry.next_batch($1, $2) AS b', [queue, 'c']);
    const b = rows[0]!.b;
    if (!b) return out;
    const evs = await pool.query<{ ev_type: string; ev_extra1: string; ev_extra2: string | null; ev_data: string | null }>(
      'SELECT * FROM pgferry.get_batch_events($1)',
      [b],
    );
    for (const e of evs.rows) {
      out.push({
        type: e.ev_type,
        table: e.ev_extra1,
        key: e.ev_extra2 === null ? null : JSON.parse(e.ev_extra2),
        data: e.ev_data === null ? null : JSON.parse(e.ev_data),
      });
    }
    await pool.query('SELECT pgferry.finish_batch($1)', [b]);
  }
}

const byKey = (a: Ev, b: Ev) => JSON.stringify([a.type, a.key]).localeCompare(JSON.stringify([b.type, b.key]));

describe('capture', () => {
  const db = useTestDatabase();

  for (const mode of ['statement', 'row'] as const) {
    it(`captures inserts, updates, deletes and truncates (${mode} mode)`, async () => {
      const queue = `cap_${mode}`;
      const table = `items_${mode}`;
      await db.pool.query('SELECT pgferry.create_queue($1)', [queue]);
      await db.pool.query('SELECT pgferry.register_consumer($1, $2)', [queue, 'c']);
      await db.pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY DEFERRABLE, name text, secret text, n numeric)`);
      const { rows } = await db.pool.query(
        `SELECT ct_key_columns FROM pgferry.capture_add_table($1, $2, NULL, ARRAY['secret'], NULL, $3)`,
        [queue, table, mode],
      );
      expect(rows[0].ct_key_columns).toEqual(['id']);

      await db.pool.query(`INSERT INTO ${table} SELECT g, 'n' || g, 'x', g * 1.5 FROM generate_series(1, 3) g`);
      let evs = await drain(db.pool, queue);
      expect(evs.sort(byKey)).toEqual(
        [1, 2, 3].map((g) => ({ type: 'I', table: `public.${table}`, key: [`${g}`], data: { id: `${g}`, name: `n${g}`, n: ['1.5', '3.0', '4.5'][g - 1] } })),
      );

      // Key change: delete of the old key, insert of the new; an unchanged image: nothing.
      await db.pool.query(`UPDATE ${table} SET id = 10 WHERE id = 1`);
      await db.pool.query(`UPDATE ${table} SET name = 'two' WHERE id = 2`);
      await db.pool.query(`UPDATE ${table} SET secret = 'y' WHERE id = 3`);
      evs = await drain(db.pool, queue);
      expect(evs.sort(byKey)).toEqual([
        { type: 'D', table: `public.${table}`, key: ['1'], data: { id: '1', name: 'n1', n: '1.5' } },
        { type: 'I', table: `public.${table}`, key: ['10'], data: { id: '10', name: 'n1', n: '1.5' } },
        { type: 'U', table: `public.${table}`, key: ['2'], data: { id: '2', name: 'two', n: '3.0' } },
      ]);

      // Shifting every key at once in one statement stays consistent.
      await db.pool.query(`UPDATE ${table} SET id = id + 1`);
      evs = await drain(db.pool, queue);
      const ops = evs.map((e) => `${e.type}${JSON.stringify(e.key)}`).sort();
      expect(ops).toEqual(mode === 'statement' ? ['D["10"]', 'D["2"]', 'I["11"]', 'I["4"]', 'U["3"]'] : ['D["10"]', 'D["2"]', 'D["3"]', 'I["11"]', 'I["3"]', 'I["4"]']);

      await db.pool.query(`DELETE FROM ${table} WHERE id = 11`);
      await db.pool.query(`TRUNCATE ${table}`);
      evs = await drain(db.pool, queue);
      expect(evs).toEqual([
        { type: 'D', table: `public.${table}`, key: ['11'], data: { id: '11', name: 'n1', n: '1.5' } },
        { type: 'T', table: `public.${table}`, key: null, data: null },
      ]);

      // Changes applied by a replicator are not captured again.
      const c = await db.pool.connect();
      try {
        await c.query(`SET pgferry.replica = on`);
        await c.query(`INSERT INTO ${table} VALUES (100, 'replica', NULL, 0)`);
        await c.query(`RESET pgferry.replica`);
        await c.query(`INSERT INTO ${table} VALUES (101, 'local', NULL, 0)`);
      } finally {
        c.release();
      }
      evs = await drain(db.pool, queue);
      expect(evs.map((e) => e.key)).toEqual([['101']]);
    });
  }

  it('writes a bulk INSERT ... SELECT in one statement-trigger call, and rolled-back writes are never seen', async () => {
    await db.pool.query(`SELECT pgferry.create_queue('bulk')`);
    await db.pool.query(`SELECT pgferry.register_consumer('bulk', 'c')`);
    await db.pool.query('CREATE TABLE bulk (id bigint PRIMARY KEY, v text)');
    await db.pool.query(`SELECT pgferry.capture_add_table('bulk', 'bulk')`);
    await db.pool.query('SELECT pg_stat_clear_snapshot()');
    await db.pool.query(`INSERT INTO bulk SELECT g, md5(g::text) FROM generate_series(1, 20000) g`);
    const c = await db.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`INSERT INTO bulk VALUES (-1, 'rolled back')`);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
    const evs = await drain(db.pool, 'bulk');
    expect(evs).toHaveLength(20000);
    expect(new Set(evs.map((e) => (e.key as number[])[0])).size).toBe(20000);
    expect(evs.every((e) => e.type === 'I')).toBe(true);
  });

  it('filters rows and accepts an explicit key for a table without a primary key', async () => {
    await db.pool.query(`SELECT pgferry.create_queue('filt')`);
    await db.pool.query(`SELECT pgferry.register_consumer('filt', 'c')`);
    await db.pool.query('CREATE TABLE nopk (a int NOT NULL, b text NOT NULL, region text)');
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('filt', 'nopk')`)).rejects.toThrow(
      /table public.nopk has no primary key/,
    );
    await db.pool.query(`SELECT pgferry.capture_add_table('filt', 'nopk', ARRAY['a', 'b'], NULL, $1)`, [
      `region LIKE 'e%'`, // a '%' in the filter is the filter's, not a format directive
    ]);
    await db.pool.query(`INSERT INTO nopk VALUES (1, 'x', 'eu'), (2, 'y', 'us')`);
    await db.pool.query(`UPDATE nopk SET region = 'us' WHERE a = 1`); // leaves the filter: a delete
    await db.pool.query(`UPDATE nopk SET region = 'eu' WHERE a = 2`); // enters it: an insert
    const evs = await drain(db.pool, 'filt');
    expect(evs.map((e) => `${e.type}${JSON.stringify(e.key)}`)).toEqual(['I["1","x"]', 'D["1","x"]', 'I["2","y"]']);
  });

  it('refuses bad input with clear errors and leaves nothing behind', async () => {
    await db.pool.query(`SELECT pgferry.create_queue('bad')`);
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('bad', 'missing_table')`)).rejects.toThrow(
      /table "missing_table" does not exist/,
    );
    await db.pool.query('CREATE TABLE good (id int PRIMARY KEY, v text)');
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('bad', 'good', ARRAY['nope'])`)).rejects.toThrow(
      /has no column\(s\) nope/,
    );
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('bad', 'good', NULL, NULL, 'no_such_col > 1')`)).rejects.toThrow(
      /invalid capture filter/,
    );
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('nope', 'good')`)).rejects.toThrow(/queue "nope" does not exist/);
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('bad', 'pgferry.queue')`)).rejects.toThrow(
      /table pgferry\.queue belongs to pgferry/,
    );
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'good'::regclass AND NOT tgisinternal`,
    );
    expect(rows[0].n).toBe(0);

    // Same options again: unchanged; other options: refused. Removing drops the triggers.
    await db.pool.query(`SELECT pgferry.capture_add_table('bad', 'good')`);
    await db.pool.query(`SELECT pgferry.capture_add_table('bad', 'good')`);
    await expect(db.pool.query(`SELECT pgferry.capture_add_table('bad', 'good', NULL, NULL, NULL, 'row')`)).rejects.toThrow(
      /captured into queue "bad" already/,
    );
    const list = await db.pool.query(`SELECT table_name FROM pgferry.capture_tables('bad')`);
    expect(list.rows).toEqual([{ table_name: 'public.good' }]);
    expect((await db.pool.query(`SELECT pgferry.capture_remove_table('bad', 'good') AS n`)).rows[0].n).toBe(1);
    const after = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'good'::regclass AND NOT tgisinternal`,
    );
    expect(after.rows[0].n).toBe(0);
    await db.pool.query(`INSERT INTO good VALUES (1, 'not captured')`);
  });
});
