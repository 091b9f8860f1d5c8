/**
 * The row handler (the default): a table's coalesced changes land as rows of a table of the
 * same shape, in bulk, inside the batch's transaction: TRUNCATE if the batch truncated,
 * then deletes, updates and inserts, each as multi-row statements over json_to_recordset
 * (the images are sent as one JSON array per chunk, untouched, so nothing is lost in
 * JavaScript). A statement that fails is redone row by row to name the key and event that
 * cannot be applied. Updates and deletes that find no row are counted, never silently
 * dropped. Other handlers land rows through applyRows too (into a partition, say).
 */
import pg from 'pg';
import createDebug from 'debug';
import type { Queryable } from '@pgferry/queue';
import { ApplyError } from '../errors.js';
import { sql } from '../sql.js';
import { splitChanges, type KeyChange, type TableChanges } from '../stream/coalesce.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { emptyApplyResult, type ApplyResult, type BatchScope, type HandlerDefinition } from './types.js';

const debug = createDebug('pgferry:replicator:apply');

const CHUNK = 10_000;

export interface Statements {
  insert: string;
  update: string;
  delete: string;
  /** The keys of a chunk that match no row (asked only when an update or delete missed). */
  missing: string;
  truncate: string;
}

interface DestColumn {
  name: string;
  /** Schema-qualified type name. */
  type: string;
  /** json, jsonb, or a domain over them. */
  json: boolean;
  /** Schema of the type's "=" operator. */
  eq_schema: string;
}

/** Statements by table shape; bounded (a partition router makes a table per period). */
const statementCache = new Map<string, Statements>();
const STATEMENT_CACHE_MAX = 1000;

/**
 * The table's apply statements, or null when the table does not exist. They depend on the
 * subscriber table's column types, read each time it is called (see batchStatements): a
 * table altered while the worker runs gets statements for its new shape, never stale ones
 * that would read values as the old types. Images are JSON objects
 * of column -> the value's text form; json_to_recordset reads each into its column's type
 * by that type's input function, so the value is exactly the provider's. Only json-family
 * columns are read as text and cast (as a record column they would take the JSON string
 * itself). Every name is quoted, every type schema-qualified, key matches use the type's
 * own "=" by its schema: nothing in the subscriber's search_path can change the statements.
 */
export async function applyStatements(
  client: Queryable,
  t: RowTarget,
): Promise<Statements | null> {
  const shape = (await client.query<DestColumn>(sql('dest_columns'), [t.dest])).rows;
  if (!shape.length) return null;
  const cacheKey = JSON.stringify([t.dest, t.columns, t.keyColumns, shape]);
  let s = statementCache.get(cacheKey);
  if (s) return s;
  const dest = new Map(shape.map((c) => [c.name, c]));
  const missingCols = t.columns.filter((c) => !dest.has(c));
  if (missingCols.length) {
    throw new ApplyError(t.dest, null, null, `the subscriber table has no column(s) ${missingCols.map((c) => pg.escapeIdentifier(c)).join(', ')}`);
  }
  const col = (name: string) => dest.get(name)!;
  const recordColumns = t.columns.map((c) => `${pg.escapeIdentifier(c)} ${col(c).json ? 'pg_catalog.text' : col(c).type}`).join(', ');
  const rows = `pg_catalog.json_to_recordset($1::pg_catalog.json) AS s (${recordColumns})`;
  const value = (c: string) => (col(c).json ? `s.${pg.escapeIdentifier(c)}::${col(c).type}` : `s.${pg.escapeIdentifier(c)}`);
  const cols = t.columns.map((c) => pg.escapeIdentifier(c));
  const match = t.keyColumns
    .map((k) => `d.${pg.escapeIdentifier(k)} OPERATOR(${col(k).eq_schema}.=) ${value(k)}`)
    .join(' AND ');
  const key = `pg_catalog.json_build_array(${t.keyColumns.map((k) => `s.${pg.escapeIdentifier(k)}::pg_catalog.text`).join(', ')})::pg_catalog.text`;
  const nonKey = t.columns.filter((c) => !t.keyColumns.includes(c));
  const set = (nonKey.length ? nonKey : t.keyColumns).map((c) => `${pg.escapeIdentifier(c)} = ${value(c)}`).join(', ');
  s = {
    insert: `INSERT INTO ${t.dest} AS d (${cols.join(', ')}) SELECT ${t.columns.map(value).join(', ')} FROM ${rows}`,
    update: `UPDATE ${t.dest} AS d SET ${set} FROM ${rows} WHERE ${match}`,
    delete: `DELETE FROM ${t.dest} AS d USING ${rows} WHERE ${match}`,
    missing: `SELECT ${key} AS k FROM ${rows} WHERE NOT EXISTS (SELECT FROM ${t.dest} AS d WHERE ${match})`,
    truncate: `TRUNCATE ${t.dest}`,
  };
  if (statementCache.size >= STATEMENT_CACHE_MAX) statementCache.delete(statementCache.keys().next().value!);
  statementCache.set(cacheKey, s);
  return s;
}

function sqlMessage(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  return e.detail ? `${e.message} (${e.detail})` : String(e.message ?? err);
}

/**
 * Run `text` over `changes` in chunks; a failing chunk is redone row by row to find the
 * culprit. With `missing` (updates, deletes): a chunk that touched fewer rows than it holds
 * is redone after asking which of its keys match no row. Returns the rows touched and those
 * keys.
 */
async function bulk(
  client: pg.ClientBase,
  table: string,
  text: string,
  changes: KeyChange[],
  image: (c: KeyChange) => string,
  missing?: string,
): Promise<{ touched: number; missingKeys: string[] }> {
  let touched = 0;
  const missingKeys: string[] = [];
  for (let i = 0; i < changes.length; i += CHUNK) {
    const chunk = changes.slice(i, i + CHUNK);
    const rows = `[${chunk.map(image).join(',')}]`;
    await client.query('SAVEPOINT pgferry_apply');
    try {
      let res = await client.query(text, [rows]);
      if (missing && res.rowCount !== chunk.length) {
        await client.query('ROLLBACK TO SAVEPOINT pgferry_apply');
        for (const r of (await client.query<{ k: string }>(missing, [rows])).rows) missingKeys.push(r.k);
        res = await client.query(text, [rows]);
      }
      touched += res.rowCount ?? 0;
      await client.query('RELEASE SAVEPOINT pgferry_apply');
      continue;
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT pgferry_apply');
      debug('%s: bulk statement failed (%s), locating the row', table, sqlMessage(err));
      for (const c of chunk) {
        try {
          await client.query(text, [`[${image(c)}]`]);
        } catch (rowErr) {
          throw new ApplyError(table, c.key, c.eventId, sqlMessage(rowErr), {
            code: (rowErr as { code?: string }).code,
            cause: rowErr,
          });
        }
      }
      // Every row applies alone but not together: report the chunk.
      throw new ApplyError(table, null, chunk[0]?.eventId ?? null, sqlMessage(err), {
        code: (err as { code?: string }).code,
        cause: err,
      });
    }
  }
  return { touched, missingKeys };
}

/** Where rows land: a table (qualified, quoted), the replicated columns and the key. */
export type RowTarget = Pick<SubscribedTable, 'dest' | 'columns' | 'keyColumns'>;

/**
 * The statements of `target` for this batch: its shape is read once per batch, in its
 * transaction (a table altered meanwhile is seen by the next batch), whatever the number
 * of flushes or, in the ordered apply, of events.
 */
export function statementsFor(client: Queryable, scope: BatchScope, target: RowTarget): Promise<Statements | null> {
  return scope.memo(`row:${JSON.stringify([target.dest, target.columns, target.keyColumns])}`, () => applyStatements(client, target));
}

/** Land `changes` as rows of `table`, in the caller's transaction. */
export async function applyRows(
  client: pg.ClientBase,
  scope: BatchScope,
  table: RowTarget,
  changes: TableChanges,
): Promise<ApplyResult> {
  const st = await statementsFor(client, scope, table);
  if (!st) {
    const first = changes.keys.values().next().value;
    throw new ApplyError(table.dest, first?.key ?? null, first?.eventId ?? null, `relation "${table.dest}" does not exist`);
  }
  const result = emptyApplyResult();
  if (changes.truncate) {
    try {
      await client.query(st.truncate);
    } catch (err) {
      throw new ApplyError(table.dest, null, null, sqlMessage(err), { cause: err });
    }
  }
  const { deletes, updates, inserts } = splitChanges(changes);
  if (deletes.length) {
    const r = await bulk(client, table.dest, st.delete, deletes, (c) => c.lastImage, st.missing);
    result.deleted = r.touched;
    result.missingDeletes = deletes.length - r.touched;
    result.missingKeys.push(...r.missingKeys.slice(0, 10));
  }
  if (updates.length) {
    const r = await bulk(client, table.dest, st.update, updates, (c) => c.image!, st.missing);
    result.updated = r.touched;
    result.missingUpdates = updates.length - r.touched;
    result.missingKeys.push(...r.missingKeys.slice(0, 10));
  }
  if (inserts.length) {
    result.inserted = (await bulk(client, table.dest, st.insert, inserts, (c) => c.image!)).touched;
  }
  if (result.missingUpdates || result.missingDeletes) {
    debug('%s: %d updates and %d deletes found no row (keys %s)', table.dest, result.missingUpdates, result.missingDeletes, result.missingKeys.join(' '));
  }
  return result;
}

/** The default handler: rows into a table of the provider's shape. */
export const rowHandler: HandlerDefinition = {
  name: 'row',
  description: 'rows into a table of the same shape (the default)',
  create(table) {
    return {
      apply: (ctx, changes) => applyRows(ctx.client, ctx.scope, table, changes),
      copy: {
        async begin(ctx) {
          await ctx.client.query(`TRUNCATE ${table.dest}`);
          return table.dest;
        },
      },
    };
  },
};
