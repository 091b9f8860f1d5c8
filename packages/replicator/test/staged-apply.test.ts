/**
 * The staged apply keeps what one subscriber transaction holds bounded, whatever the number
 * of chunks: a provider transaction of tens of millions of rows is applied in one subscriber
 * transaction, and a stage made per chunk held each one's relation locks until the commit
 * (the server's lock table is max_locks_per_transaction × connections). One chunk or
 * fifteen: the same locks, and every row right.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { applyRows } from '../src/handlers/row.js';
import type { KeyChange, TableChanges } from '../src/stream/coalesce.js';

const CHUNK = 10_000;

function changes(ids: number[], value: (id: number) => string | null, existed: boolean): TableChanges {
  const keys = new Map<string, KeyChange>();
  for (const id of ids) {
    const v = value(id);
    const key = JSON.stringify([String(id)]);
    const image = JSON.stringify({ id: String(id), v: v ?? 'gone' });
    keys.set(key, { key, existedBefore: existed, image: v === null ? null : image, lastImage: image, eventId: String(id) });
  }
  return { truncate: false, keys };
}

describe('staged apply', () => {
  const db = useTestDatabase({ install: false });
  const table = { dest: 'public.t', columns: ['id', 'v'], keyColumns: ['id'] };
  const scope = { memo: <T>(_: string, make: () => Promise<T>) => make() };
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

  /** Apply inserts, updates and deletes of `n` rows each in one transaction; the relation locks it then holds. */
  async function applyAll(from: number, n: number): Promise<number> {
    const c = await db.pool.connect();
    try {
      await c.query('BEGIN');
      await applyRows(c, scope, table, changes(range(from, 2 * n), (id) => `new ${id}`, false));
      await applyRows(c, scope, table, changes(range(from, n), (id) => `changed ${id}`, true));
      await applyRows(c, scope, table, changes(range(from + n, n), () => null, true));
      const locks = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'`)).rows[0]!.n;
      await c.query('COMMIT');
      return locks;
    } finally {
      c.release();
    }
  }

  it('holds the same locks for one chunk as for fifteen, and applies every row', async () => {
    await db.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    const one = await applyAll(1, CHUNK / 2);
    const many = await applyAll(1_000_000, 5 * CHUNK);
    expect(many).toBe(one);
    const { rows } = await db.pool.query<{ changed: number; other: number }>(
      `SELECT count(*) FILTER (WHERE v = 'changed ' || id)::int AS changed, count(*) FILTER (WHERE v <> 'changed ' || id)::int AS other FROM t`,
    );
    expect(rows[0]).toEqual({ changed: CHUNK / 2 + 5 * CHUNK, other: 0 });
    // The stages went with their transactions.
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'pgferry_apply_stage%'`)).rows[0].n).toBe(0);
  });
});
