/**
 * Apply a table's coalesced changes in bulk, inside the caller's transaction: TRUNCATE if
 * the batch truncated, then deletes, updates and inserts, each as multi-row statements over
 * json_to_recordset (the images are sent as one JSON array per chunk, untouched, so
 * nothing is lost in JavaScript). A statement that fails is redone row by row to name
 * the key and event that cannot be applied. Updates and deletes that find no row are
 * counted, never silently dropped.
 */
import createDebug from 'debug';
import pg from 'pg';
import type { Queryable, RawEvent } from '@pgferry/queue';
import { ApplyError } from '../errors.js';
import { sql } from '../sql.js';
import type { KeyChange, TableChanges } from '../stream/coalesce.js';
import type { SubscribedTable } from '../state/subscribed-table.js';

const debug = createDebug('pgferry:replicator:apply');

const CHUNK = 10_000;

export interface ApplyResult {
  inserted: number;
  updated: number;
  deleted: number;
  missingUpdates: number;
  missingDeletes: number;
  /** Keys of updates and deletes that found no row (the first few). */
  missingKeys: string[];
}

export function emptyApplyResult(): ApplyResult {
  return { inserted: 0, updated: 0, deleted: 0, missingUpdates: 0, missingDeletes: 0, missingKeys: [] };
}

export function addApplyResult(into: ApplyResult, r: ApplyResult): void {
  into.inserted += r.inserted;
  into.updated += r.updated;
  into.deleted += r.deleted;
  into.missingUpdates += r.missingUpdates;
  into.missingDeletes += r.missingDeletes;
  for (const k of r.missingKeys) if (into.missingKeys.length < 20) into.missingKeys.push(k);
}

interface Statements {
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

const statementCache = new Map<string, Statements>();

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
  t: Pick<SubscribedTable, 'dest' | 'columns' | 'keyColumns'>,
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

/** Statements of a subscriber table, or null when it does not exist. */
export type StatementsFor = (table: SubscribedTable) => Promise<Statements | null>;

/**
 * Apply statements for one batch: each table's shape is read once per batch, in its
 * transaction (a table altered meanwhile is seen by the next batch), whatever the number of
 * flushes or, in the ordered apply, of events.
 */
export function batchStatements(client: Queryable): StatementsFor {
  const byDest = new Map<string, Promise<Statements | null>>();
  return (table) => {
    let st = byDest.get(table.dest);
    if (!st) byDest.set(table.dest, (st = applyStatements(client, table)));
    return st;
  };
}

/** Apply one table's changes in the caller's transaction. */
export async function applyTableChanges(
  client: pg.ClientBase,
  table: SubscribedTable,
  changes: TableChanges,
  statements: StatementsFor,
): Promise<ApplyResult> {
  const st = await statements(table);
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
  const deletes: KeyChange[] = [];
  const updates: KeyChange[] = [];
  const inserts: KeyChange[] = [];
  for (const c of changes.keys.values()) {
    if (c.existedBefore) (c.image === null ? deletes : updates).push(c);
    else if (c.image !== null) inserts.push(c);
    // inserted and deleted within the batch: nothing to do
  }
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

/**
 * Apply one event on its own, in the caller's transaction (the ordered apply). An update
 * or delete that finds no row is counted as missing, as in the bulk apply.
 */
export async function applyEvent(
  client: pg.ClientBase,
  table: SubscribedTable,
  ev: RawEvent,
  statements: StatementsFor,
): Promise<ApplyResult> {
  const st = await statements(table);
  if (!st) throw new ApplyError(table.dest, ev.extra2, ev.id, `relation "${table.dest}" does not exist`);
  const result = emptyApplyResult();
  const text = ev.type === 'T' ? st.truncate : ev.type === 'I' ? st.insert : ev.type === 'U' ? st.update : st.delete;
  let touched: number;
  try {
    touched = (await client.query(text, ev.type === 'T' ? [] : [`[${ev.data}]`])).rowCount ?? 0;
  } catch (err) {
    throw new ApplyError(table.dest, ev.extra2, ev.id, sqlMessage(err), { code: (err as { code?: string }).code, cause: err });
  }
  if (ev.type === 'I') result.inserted = touched;
  if (ev.type === 'U') {
    result.updated = touched;
    result.missingUpdates = 1 - touched;
  }
  if (ev.type === 'D') {
    result.deleted = touched;
    result.missingDeletes = 1 - touched;
  }
  if (touched === 0 && ev.type !== 'T' && ev.extra2 !== null) result.missingKeys.push(ev.extra2);
  return result;
}
