/**
 * A DDL event met by a subscriber's main stream. The provider's capture followed an ALTER
 * TABLE on a captured table (event triggers: @pgferry/sql capture_ddl_follow.sql) and the
 * event says what changed, column by column; the subscriber makes the same change to its
 * own copy, at that point of the stream, in the batch's transaction: under its own name
 * for the table (`dest`), to the columns it replicates (a column it does not take is left
 * alone; added columns are taken). Each step is skipped where it is done already (a table
 * federated from several providers gets the change from each). A change the subscriber
 * cannot make stops the stream with an error naming the table and the statement.
 *
 * Only tables of the `row` handler are altered; for the others (their tables have shapes
 * of their own) the columns they are given follow and the worker says so.
 */
import pg from 'pg';
import { z } from 'zod';
import type { RawEvent } from '@pgferry/queue';
import { ApplyError } from '../errors.js';
import { sql } from '../sql.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';

/** The ev_type of a DDL event. */
export const DDL_EVENT = 'DDL';

const name = z.string().min(1);
const ddlOp = z.discriminatedUnion('op', [
  z.object({ op: z.literal('drop'), column: name }),
  z.object({ op: z.literal('rename'), from: name, to: name }),
  z.object({ op: z.literal('type'), column: name, type: name, collation: name.nullable() }),
  z.object({
    op: z.literal('add'),
    column: name,
    type: name,
    collation: name.nullable(),
    notNull: z.boolean(),
    default: z.string().nullable(),
    value: z.string().nullable(),
  }),
]);
const ddlChange = z.object({
  table: name,
  previous: name,
  columnsBefore: z.array(name),
  columnsAfter: z.array(name),
  keys: z.array(name).min(1),
  ops: z.array(ddlOp),
});

export type DdlOp = z.infer<typeof ddlOp>;
export type DdlChange = z.infer<typeof ddlChange>;

/** What applying a DDL event did to a subscription's table. */
export interface DdlApplied {
  table: SubscribedTable;
  /** The statements run on the subscriber (empty: the table is not the row handler's, or all was done). */
  statements: string[];
}

/** Apply a DDL event; undefined when the subscription does not replicate its table. */
export async function applyDdl(client: pg.ClientBase, subscription: string, ev: RawEvent): Promise<DdlApplied | undefined> {
  const parsed = ddlChange.safeParse(ev.data === null ? null : JSON.parse(ev.data));
  if (!parsed.success) {
    throw new ApplyError(ev.extra1 ?? '?', null, ev.id, `malformed DDL event: ${parsed.error.message}`, { handler: 'ddl' });
  }
  const change = parsed.data;
  const { rows } = await client.query<SubscriberTableRow>(sql('subscriber_tables'), [subscription]);
  const row = rows.find((r) => r.st_source === change.previous);
  if (!row) return undefined;
  const t = toSubscribedTable(row);
  let statements: string[] = [];
  if (t.handler === 'row') {
    const existing = new Map((await client.query<{ name: string; type: string }>(sql('table_columns'), [t.dest])).rows.map((r) => [r.name, r.type]));
    statements = ddlStatements(t, change.ops, existing);
    await client.query('SAVEPOINT pgferry_ddl');
    for (const s of statements) {
      try {
        await client.query(s);
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT pgferry_ddl');
        throw new ApplyError(t.dest, null, ev.id, `the provider's DDL on ${change.table} fails here: ${s}: ${(err as Error).message}`, {
          code: (err as { code?: string }).code,
          cause: err,
          handler: 'ddl',
        });
      }
    }
    await client.query('RELEASE SAVEPOINT pgferry_ddl');
  }
  const r = await client.query<SubscriberTableRow>(sql('table_after_ddl'), [
    subscription,
    change.previous,
    change.table,
    columnsAfter(t.columns, change.ops),
    t.keyColumns.map((k) => renamed(change.ops, k)),
  ]);
  return { table: toSubscribedTable(r.rows[0]!), statements };
}

/** A column's name after the change. */
function renamed(ops: DdlOp[], column: string): string {
  for (const o of ops) if (o.op === 'rename' && o.from === column) return o.to;
  return column;
}

/** The columns a table replicates after the change: its own, renamed, less those dropped, and those added. */
function columnsAfter(columns: string[], ops: DdlOp[]): string[] {
  const dropped = new Set(ops.flatMap((o) => (o.op === 'drop' ? [o.column] : [])));
  const kept = columns.filter((c) => !dropped.has(c)).map((c) => renamed(ops, c));
  const added = ops.flatMap((o) => (o.op === 'add' && !kept.includes(o.column) ? [o.column] : []));
  return [...kept, ...added];
}

/**
 * The statements that make subscriber table `t` (its columns now: name -> type) follow the
 * provider's change: drops, renames and type changes of the columns it replicates, and the
 * added columns, with the value the provider's rows got and its default. A step the table
 * shows done already is skipped.
 */
export function ddlStatements(t: SubscribedTable, ops: DdlOp[], columnsNow: ReadonlyMap<string, string>): string[] {
  const existing = new Map(columnsNow); // as each statement leaves them
  const alter = `ALTER TABLE ${t.dest}`;
  const id = (c: string) => pg.escapeIdentifier(c);
  const typed = (o: { type: string; collation: string | null }) => `${o.type}${o.collation === null ? '' : ` COLLATE ${o.collation}`}`;
  const replicated = new Set(t.columns);
  const out: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'drop':
        if (replicated.has(o.column) && existing.delete(o.column)) out.push(`${alter} DROP COLUMN ${id(o.column)}`);
        break;
      case 'rename':
        // Done already where the old name is not there.
        if (replicated.has(o.from) && existing.has(o.from)) {
          existing.set(o.to, existing.get(o.from)!);
          existing.delete(o.from);
          out.push(`${alter} RENAME COLUMN ${id(o.from)} TO ${id(o.to)}`);
        }
        break;
      case 'type':
        if ([...replicated].some((c) => renamed(ops, c) === o.column) && existing.has(o.column) && existing.get(o.column) !== o.type) {
          existing.set(o.column, o.type);
          out.push(`${alter} ALTER COLUMN ${id(o.column)} TYPE ${typed(o)}`);
        }
        break;
      case 'add':
        if (existing.has(o.column)) break;
        existing.set(o.column, o.type);
        out.push(
          `${alter} ADD COLUMN ${id(o.column)} ${typed(o)}` +
            `${o.value === null ? '' : ` DEFAULT ${pg.escapeLiteral(o.value)}::${o.type}`}${o.notNull ? ' NOT NULL' : ''}`,
        );
        if (o.default !== null) out.push(`${alter} ALTER COLUMN ${id(o.column)} SET DEFAULT ${o.default}`);
        else if (o.value !== null) out.push(`${alter} ALTER COLUMN ${id(o.column)} DROP DEFAULT`);
        break;
    }
  }
  return out;
}
