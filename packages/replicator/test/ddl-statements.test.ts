/**
 * The statements a subscriber runs for a DDL event (stream/ddl.ts): each step is skipped
 * where the table shows it done already (a federated table gets the same event from every
 * provider, and a replayed batch meets it again), steps build on each other within one
 * event, and columns the subscriber does not replicate are left alone. Run on a real server;
 * the same event again finds nothing left to do.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { ddlStatements, type DdlOp } from '../src/stream/ddl.js';
import type { SubscribedTable } from '../src/state/subscribed-table.js';

const table = (columns: string[]) => ({ dest: 'public.t', columns, keyColumns: ['id'] }) as SubscribedTable;
const ops: DdlOp[] = [
  { op: 'drop', column: 'gone' },
  { op: 'rename', from: 'v', to: 'label' },
  { op: 'type', column: 'n', type: 'bigint', collation: null },
  { op: 'add', column: 'gone', type: 'text', collation: '"pg_catalog"."C"', notNull: true, default: null, value: "it's" },
];

describe('DDL statements on the subscriber', () => {
  const db = useTestDatabase({ install: false });
  const columns = async () =>
    new Map(
      (
        await db.pool.query<{ a: string; t: string }>(
          `SELECT attname AS a, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attnum > 0 AND NOT attisdropped`,
        )
      ).rows.map((r) => [r.a, r.t]),
    );

  it('builds each step on the one before, and finds nothing to do the second time', async () => {
    await db.pool.query(`CREATE TABLE t (id int PRIMARY KEY, v text, n int, gone text, local text); INSERT INTO t VALUES (1, 'x', 2, 'old', 'mine')`);
    const t = table(['id', 'v', 'n', 'gone']);
    const first = ddlStatements(t, ops, await columns());
    // The drop and the add of the same name are both there: the add sees the drop.
    expect(first.map((s) => s.replace(/ADD COLUMN .*/, 'ADD COLUMN ...'))).toEqual([
      'ALTER TABLE public.t DROP COLUMN "gone"',
      'ALTER TABLE public.t RENAME COLUMN "v" TO "label"',
      'ALTER TABLE public.t ALTER COLUMN "n" TYPE bigint',
      'ALTER TABLE public.t ADD COLUMN ...',
      'ALTER TABLE public.t ALTER COLUMN "gone" DROP DEFAULT',
    ]);
    for (const s of first) await db.pool.query(s);
    expect((await db.pool.query(`SELECT id, label, n, local, gone, pg_typeof(n)::text AS nt FROM t`)).rows).toEqual([
      { id: 1, label: 'x', n: '2', local: 'mine', gone: "it's", nt: 'bigint' },
    ]);
    // Again (a second provider of a merged table): the rename, the type change and the add
    // are done, nothing is left to run. (A drop and an add of one name in one event would
    // run again: the table cannot tell which of the two columns it has.)
    const after = table(['id', 'label', 'n', 'gone']);
    expect(ddlStatements(after, ops.filter((o) => o.op !== 'drop'), await columns())).toEqual([]);
    // A column the subscriber does not replicate is left alone.
    expect(ddlStatements(table(['id']), [{ op: 'drop', column: 'local' }, { op: 'rename', from: 'label', to: 'x' }], await columns())).toEqual([]);
  });
});
