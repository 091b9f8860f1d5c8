/**
 * The row handler (the default): a table's coalesced changes land as rows of a table of the
 * same shape, in bulk, inside the batch's transaction: TRUNCATE if the batch truncated,
 * then deletes, updates and inserts, each as multi-row statements over a chunk's rows: a
 * chunk of hundreds of rows is COPYed into a temporary table typed by the subscriber's
 * columns (see StagedStatements), a smaller one is read by json_to_recordset (the images
 * sent as one JSON array, untouched, so nothing is lost in JavaScript); either way each
 * value is read by its type's input function. A statement that fails is redone row by row to name the key and event that
 * cannot be applied. Updates and deletes that find no row are counted, never silently
 * dropped. Other handlers land rows through applyRows too (into a partition, say).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import createDebug from 'debug';
import type { Queryable } from '@pgferry/queue';
import { ApplyError, MergeCollisionError, RedoBatch } from '../errors.js';
import { sql } from '../sql.js';
import { readShapes, shapeFor, type DestColumn } from './dest-shape.js';
import { ImageCopyEncoder } from './image-copy.js';
import { splitChanges, type KeyChange, type TableChanges } from '../stream/coalesce.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { emptyApplyResult, type ApplyResult, type BatchScope, type CopyHooks, type HandlerDefinition } from './types.js';

const debug = createDebug('pgferry:replicator:apply');

const CHUNK = 10_000;

export interface Statements {
  insert: string;
  update: string;
  delete: string;
  /** The keys of a chunk that match no row (asked only when an update or delete missed). */
  missing: string;
  truncate: string;
  /** Federation (the target has a merge column): see MergeStatements. */
  merge: MergeStatements | null;
  /** The same statements over a staging table a chunk is COPYed into: see StagedStatements. */
  staged: StagedStatements;
}

/**
 * The staged apply of a chunk: a temporary table of the replicated columns, typed by the
 * subscriber's columns, filled by COPY (text format: each value read by its type's input
 * function, as json_to_recordset reads it) and read by the same statements as above. It
 * costs the server far less than parsing JSON; a chunk whose images are not of capture's
 * form (see ImageCopyEncoder), and the slow paths (a miss, an error, a single row), use the
 * JSON statements. One stage per table shape and transaction (named by the shape, dropped
 * at the commit), emptied for each chunk: a stage made and dropped per chunk held its
 * relations' locks until the commit, and a transaction of tens of millions of rows ran out
 * of the server's lock table (max_locks_per_transaction).
 */
export interface StagedStatements {
  /** Create the stage unless this transaction has it already, and empty it (one round trip). */
  prepare: string;
  copy: string;
  insert: string;
  update: string;
  delete: string;
}

/**
 * A merged table's own statements. The others above touch only this source's rows (`d.m =
 * source`) and an insert skips a key that another source's row holds; when a chunk touched
 * fewer rows than it holds, `collision` names the first key held by another source.
 */
export interface MergeStatements {
  /** The first key of the chunk ($1) held by a row of another source: k (JSON array), other. */
  collision: string;
  /** The copy: empty this source's rows (the other sources' stay). */
  empty: string;
  /** The copy: the staging table COPY writes into (replicated columns only). */
  stage: string;
  /** The copy: the first staged key held by another source (k, other). */
  stageCollision: string;
  /** The copy: the staged rows into the table, with the source. */
  fill: string;
}

/** The temporary table a merged table's copy is staged in (dropped at the copy's commit). */
const MERGE_STAGE = 'pgferry_merge_copy';
/** The temporary tables chunks of changes are staged in: this, and a hash of the shape. */
const APPLY_STAGE = 'pgferry_apply_stage';
/** Chunks smaller than this go through json_to_recordset (creating the stage costs more). */
const STAGE_MIN_ROWS = 200;

/** Statements by table shape; bounded (a partition router makes a table per period). */
const statementCache = new Map<string, Statements>();
const STATEMENT_CACHE_MAX = 1000;

/**
 * The table's apply statements, or null when the table does not exist. They depend on the
 * subscriber table's column types (`shape`, as the batch read it: see dest-shape.ts; read
 * here when not given): a
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
  shape?: DestColumn[],
): Promise<Statements | null> {
  shape ??= (await readShapes(client, [t.dest])).get(t.dest) ?? [];
  if (!shape.length) return null;
  const cacheKey = JSON.stringify([t.dest, t.columns, t.keyColumns, t.merge ?? null, shape]);
  let s = statementCache.get(cacheKey);
  if (s) return s;
  const dest = new Map(shape.map((c) => [c.name, c]));
  const missingCols = t.columns.filter((c) => !dest.has(c));
  if (missingCols.length) {
    throw new ApplyError(t.dest, null, null, `the subscriber table has no column(s) ${missingCols.map((c) => pg.escapeIdentifier(c)).join(', ')}`);
  }
  const col = (name: string) => dest.get(name)!;
  const recordColumns = t.columns.map((c) => `${pg.escapeIdentifier(c)} ${col(c).json ? 'pg_catalog.text' : col(c).type}`).join(', ');
  const jsonRows = `pg_catalog.json_to_recordset($1::pg_catalog.json) AS s (${recordColumns})`;
  const stageColumns = t.columns.map((c) => `${pg.escapeIdentifier(c)} ${col(c).type}`).join(', ');
  const stageName = `pg_temp.${pg.escapeIdentifier(`${APPLY_STAGE}_${createHash('sha256').update(stageColumns).digest('hex').slice(0, 16)}`)}`;
  const stagedRows = `${stageName} AS s`;
  // json-family columns come out of json_to_recordset as text (see above); the stage has them typed.
  const jsonValue = (c: string) => (col(c).json ? `s.${pg.escapeIdentifier(c)}::${col(c).type}` : `s.${pg.escapeIdentifier(c)}`);
  const stagedValue = (c: string) => `s.${pg.escapeIdentifier(c)}`;
  const cols = t.columns.map((c) => pg.escapeIdentifier(c));
  const match = (value: (c: string) => string) =>
    t.keyColumns.map((k) => `d.${pg.escapeIdentifier(k)} OPERATOR(${col(k).eq_schema}.=) ${value(k)}`).join(' AND ');
  const key = `pg_catalog.json_build_array(${t.keyColumns.map((k) => `s.${pg.escapeIdentifier(k)}::pg_catalog.text`).join(', ')})::pg_catalog.text`;
  const nonKey = t.columns.filter((c) => !t.keyColumns.includes(c));
  const set = (value: (c: string) => string) => (nonKey.length ? nonKey : t.keyColumns).map((c) => `${pg.escapeIdentifier(c)} = ${value(c)}`).join(', ');
  const stage = {
    prepare: `CREATE TEMPORARY TABLE IF NOT EXISTS ${stageName.slice('pg_temp.'.length)} (${stageColumns}) ON COMMIT DROP; TRUNCATE ${stageName}`,
    copy: `COPY ${stageName} (${cols.join(', ')}) FROM STDIN`,
  };
  if (!t.merge) {
    const plain = (rows: string, value: (c: string) => string) => ({
      insert: `INSERT INTO ${t.dest} AS d (${cols.join(', ')}) SELECT ${t.columns.map(value).join(', ')} FROM ${rows}`,
      update: `UPDATE ${t.dest} AS d SET ${set(value)} FROM ${rows} WHERE ${match(value)}`,
      delete: `DELETE FROM ${t.dest} AS d USING ${rows} WHERE ${match(value)}`,
    });
    s = {
      ...plain(jsonRows, jsonValue),
      missing: `SELECT ${key} AS k FROM ${jsonRows} WHERE NOT EXISTS (SELECT FROM ${t.dest} AS d WHERE ${match(jsonValue)})`,
      truncate: `TRUNCATE ${t.dest}`,
      merge: null,
      staged: { ...stage, ...plain(stagedRows, stagedValue) },
    };
  } else {
    if (!dest.has(t.merge.column)) {
      throw new ApplyError(t.dest, null, null, `the subscriber table has no merge column ${pg.escapeIdentifier(t.merge.column)}`);
    }
    // This source's rows: d.m = 'source' (text's own "=", whatever the search_path).
    const m = `d.${pg.escapeIdentifier(t.merge.column)}`;
    const source = `${pg.escapeLiteral(t.merge.source)}::pg_catalog.text`;
    const own = `${m} OPERATOR(pg_catalog.=) ${source}`;
    const other = `(${own}) IS NOT TRUE`;
    const staged = `pg_temp.${MERGE_STAGE} AS s`;
    const collision = (from: string, value: (c: string) => string) =>
      `SELECT ${key} AS k, ${m}::pg_catalog.text AS other FROM ${from} JOIN ${t.dest} AS d ON ${match(value)} WHERE ${other} LIMIT 1`;
    const merged = (rows: string, value: (c: string) => string) => ({
      insert:
        `INSERT INTO ${t.dest} AS d (${cols.join(', ')}, ${pg.escapeIdentifier(t.merge!.column)}) SELECT ${t.columns.map(value).join(', ')}, ${source} ` +
        `FROM ${rows} WHERE NOT EXISTS (SELECT FROM ${t.dest} AS d WHERE ${match(value)} AND ${other})`,
      update: `UPDATE ${t.dest} AS d SET ${set(value)} FROM ${rows} WHERE ${match(value)} AND ${own}`,
      delete: `DELETE FROM ${t.dest} AS d USING ${rows} WHERE ${match(value)} AND ${own}`,
    });
    s = {
      ...merged(jsonRows, jsonValue),
      missing: `SELECT ${key} AS k FROM ${jsonRows} WHERE NOT EXISTS (SELECT FROM ${t.dest} AS d WHERE ${match(jsonValue)} AND ${own})`,
      truncate: `DELETE FROM ${t.dest} AS d WHERE ${own}`,
      merge: {
        collision: collision(jsonRows, jsonValue),
        empty: `DELETE FROM ${t.dest} AS d WHERE ${own}`,
        stage: `CREATE TEMPORARY TABLE ${MERGE_STAGE} ON COMMIT DROP AS SELECT ${cols.join(', ')} FROM ${t.dest} WITH NO DATA`,
        stageCollision: collision(staged, stagedValue),
        fill: `INSERT INTO ${t.dest} (${cols.join(', ')}, ${pg.escapeIdentifier(t.merge.column)}) SELECT ${cols.join(', ')}, ${source} FROM pg_temp.${MERGE_STAGE}`,
      },
      staged: { ...stage, ...merged(stagedRows, stagedValue) },
    };
  }
  if (statementCache.size >= STATEMENT_CACHE_MAX) statementCache.delete(statementCache.keys().next().value!);
  statementCache.set(cacheKey, s);
  return s;
}

function sqlMessage(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  return e.detail ? `${e.message} (${e.detail})` : String(e.message ?? err);
}

/** One statement of a table: its JSON form (over $1) and its staged form. */
interface Step {
  op: 'insert' | 'update' | 'delete';
  st: Statements;
  encoder: ImageCopyEncoder;
  /** The batch's first attempt: no savepoint per chunk (see BatchScope.firstAttempt). */
  firstAttempt: boolean;
}

/** SQLSTATEs of constraints whose outcome can depend on the order of changes (see batch-apply.ts). */
export const ORDER_SENSITIVE = new Set(['23505', '23P01', '23503']);

/**
 * Run the statement `step.op` over `changes` in chunks: staged (see StagedStatements) when
 * the chunk is big enough and its images are of capture's form, else over the images as one
 * JSON array. A failing chunk is redone row by row (JSON) to find the culprit. With `missing`
 * (updates, deletes): a chunk that touched fewer rows than it holds is redone after asking
 * which of its keys match no row. With `collision` (a merged table: its statements skip the
 * rows of other sources), such a chunk is first asked for a key held by another source,
 * which stops the apply. Returns the rows touched and the missing keys.
 *
 * That needs a savepoint per chunk. A batch's first attempt takes none: a chunk that fails
 * or misses rows throws RedoBatch, and the batch is applied again with them (an ordering
 * constraint's violation is thrown as such: the ordered apply takes it from there).
 */
async function bulk(
  client: pg.ClientBase,
  table: string,
  step: Step,
  changes: KeyChange[],
  image: (c: KeyChange) => string,
  check: { missing?: string; collision?: (rows: string, chunk: KeyChange[]) => Promise<void> } = {},
): Promise<{ touched: number; missingKeys: string[] }> {
  const text = step.st[step.op];
  let touched = 0;
  const missingKeys: string[] = [];
  for (let i = 0; i < changes.length; i += CHUNK) {
    const chunk = changes.slice(i, i + CHUNK);
    const copyText = chunk.length >= STAGE_MIN_ROWS ? step.encoder.text(chunk.map(image)) : null;
    let rows: string | undefined;
    const json = () => (rows ??= `[${chunk.map(image).join(',')}]`);
    const run = () => (copyText === null ? client.query(text, [json()]) : staged(client, step, copyText));
    if (step.firstAttempt) {
      let res: pg.QueryResult;
      try {
        res = await run();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (ORDER_SENSITIVE.has(code ?? '')) throw new ApplyError(table, null, chunk[0]?.eventId ?? null, sqlMessage(err), { code, cause: err });
        throw new RedoBatch(table, { cause: err });
      }
      if ((check.missing || check.collision) && res.rowCount !== chunk.length) throw new RedoBatch(table);
      touched += res.rowCount ?? 0;
      continue;
    }
    await client.query('SAVEPOINT pgferry_apply');
    try {
      let res = await run();
      if ((check.missing || check.collision) && res.rowCount !== chunk.length) {
        await client.query('ROLLBACK TO SAVEPOINT pgferry_apply');
        await check.collision?.(json(), chunk);
        if (check.missing) for (const r of (await client.query<{ k: string }>(check.missing, [json()])).rows) missingKeys.push(r.k);
        res = await client.query(text, [json()]);
      }
      touched += res.rowCount ?? 0;
      await client.query('RELEASE SAVEPOINT pgferry_apply');
      continue;
    } catch (err) {
      if (err instanceof MergeCollisionError) throw err;
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

/** A chunk through the stage, in the chunk's savepoint or the batch's (which a failure rolls back, stage and all). */
async function staged(client: pg.ClientBase, step: Step, copyText: string): Promise<pg.QueryResult> {
  const st = step.st.staged;
  await client.query(st.prepare);
  await pipeline(Readable.from([copyText]), client.query(copyFrom(st.copy)));
  const before = (await client.query<{ mergejoin: string; hashjoin: string }>(sql('staged_plan_begin'))).rows[0]!;
  const res = await client.query(st[step.op]);
  await client.query(sql('staged_plan_end'), [before.mergejoin, before.hashjoin]);
  return res;
}

/** A key (JSON array of text forms) as "(a, b)=(1, x)", as PostgreSQL prints a key. */
export function keyText(keyColumns: readonly string[], key: string): string {
  let values: unknown[];
  try {
    values = JSON.parse(key) as unknown[];
  } catch {
    return key;
  }
  return `(${keyColumns.join(', ')})=(${values.map((v) => (v === null ? 'null' : String(v))).join(', ')})`;
}

/** The same key whatever the JSON spacing (the capture's key and json_build_array's). */
function sameKey(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
}

/**
 * A merged table: throw MergeCollisionError for the first row `collision` (a statement of
 * MergeStatements, over `params`) finds held by another source; return when there is none.
 */
export async function checkMergeCollision(
  client: pg.ClientBase,
  table: RowTarget,
  collision: string,
  params: unknown[],
  chunk: readonly KeyChange[] = [],
): Promise<void> {
  const hit = (await client.query<{ k: string; other: string | null }>(collision, params)).rows[0];
  if (!hit) return;
  const change = chunk.find((c) => sameKey(c.key, hit.k));
  throw new MergeCollisionError(
    table.dest,
    keyText(table.keyColumns, hit.k),
    change?.key ?? hit.k,
    change?.eventId ?? null,
    table.merge!.source,
    hit.other,
  );
}

/**
 * Where rows land: a table (qualified, quoted), the replicated columns and the key; for a
 * table several sources write (federation), the column naming each row's source and this
 * source's name.
 */
export type RowTarget = Pick<SubscribedTable, 'dest' | 'columns' | 'keyColumns'> & { merge?: MergeTarget | null };

export interface MergeTarget {
  column: string;
  source: string;
}

/** The row target of a subscribed table (merged when it has a merge column). */
export function rowTargetOf(table: SubscribedTable): RowTarget {
  return { ...table, merge: table.mergeColumn ? { column: table.mergeColumn, source: table.subscription } : null };
}

/**
 * The statements of `target` for this batch: its shape is read once per batch, in its
 * transaction (a table altered meanwhile is seen by the next batch), whatever the number
 * of flushes or, in the ordered apply, of events.
 */
export function statementsFor(client: Queryable, scope: BatchScope, target: RowTarget): Promise<Statements | null> {
  return scope.memo(`row:${JSON.stringify([target.dest, target.columns, target.keyColumns, target.merge ?? null])}`, async () =>
    applyStatements(client, target, await shapeFor(client, scope, target.dest)),
  );
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
  const encoder = new ImageCopyEncoder(table.columns);
  const firstAttempt = scope.firstAttempt === true;
  const merge = st.merge;
  const collision = merge ? (rows: string, chunk: KeyChange[]) => checkMergeCollision(client, table, merge.collision, [rows], chunk) : undefined;
  if (deletes.length) {
    const r = await bulk(client, table.dest, { op: 'delete', st, encoder, firstAttempt }, deletes, (c) => c.lastImage, { missing: st.missing, collision });
    result.deleted = r.touched;
    result.missingDeletes = deletes.length - r.touched;
    result.missingKeys.push(...r.missingKeys.slice(0, 10));
  }
  if (updates.length) {
    const r = await bulk(client, table.dest, { op: 'update', st, encoder, firstAttempt }, updates, (c) => c.image!, { missing: st.missing, collision });
    result.updated = r.touched;
    result.missingUpdates = updates.length - r.touched;
    result.missingKeys.push(...r.missingKeys.slice(0, 10));
  }
  if (inserts.length) {
    result.inserted = (await bulk(client, table.dest, { op: 'insert', st, encoder, firstAttempt }, inserts, (c) => c.image!, { collision })).touched;
  }
  if (result.missingUpdates || result.missingDeletes) {
    debug('%s: %d updates and %d deletes found no row (keys %s)', table.dest, result.missingUpdates, result.missingDeletes, result.missingKeys.join(' '));
  }
  return result;
}

/**
 * Land `changes` whatever rows of their keys the table holds (a chunked copy's catch-up,
 * between the first and the last chunk's snapshots: a key's chunk may have seen a change or
 * not). Every key touched is deleted if there and its last image inserted: each key ends as
 * the changes left it, and nothing is counted missing. Not for merged tables (their copy is
 * never chunked).
 */
export async function applyRowsIdempotent(
  client: pg.ClientBase,
  scope: BatchScope,
  table: RowTarget,
  changes: TableChanges,
): Promise<ApplyResult> {
  const st = await statementsFor(client, scope, table);
  if (!st) throw new ApplyError(table.dest, null, null, `relation "${table.dest}" does not exist`);
  const result = emptyApplyResult();
  if (changes.truncate) await client.query(st.truncate);
  const keys = [...changes.keys.values()];
  const encoder = new ImageCopyEncoder(table.columns);
  const firstAttempt = scope.firstAttempt === true;
  result.deleted = (await bulk(client, table.dest, { op: 'delete', st, encoder, firstAttempt }, keys, (c) => c.lastImage)).touched;
  const rows = keys.filter((c) => c.image !== null);
  result.inserted = (await bulk(client, table.dest, { op: 'insert', st, encoder, firstAttempt }, rows, (c) => c.image!)).touched;
  return result;
}

/** The default handler: rows into a table of the provider's shape. */
export const rowHandler: HandlerDefinition = {
  name: 'row',
  description: 'rows into a table of the same shape (the default)',
  merges: true,
  create(table) {
    const target = rowTargetOf(table);
    const copy: CopyHooks = target.merge ? mergeCopyHooks(target) : {
      async begin(ctx) {
        await ctx.client.query(`TRUNCATE ${table.dest}`);
        return table.dest;
      },
      // Chunks after the first add to the table (a merged or captured table is copied whole).
      resume: async () => table.dest,
    };
    if (!table.captureApplied) return { apply: (ctx, changes) => applyRows(ctx.client, ctx.scope, target, changes), copy };
    // Captured on the subscriber: pgferry.replica off while this table is written. An error
    // is rolled back to a savepoint taken before (the batch's, the event's), which restores it.
    return {
      async apply(ctx, changes) {
        await ctx.client.query(sql('set_replica'), ['off']);
        const r = await applyRows(ctx.client, ctx.scope, target, changes);
        await ctx.client.query(sql('set_replica'), ['on']);
        return r;
      },
      copy: {
        // The copy's transaction writes this table only: off until its commit.
        async begin(ctx) {
          await ctx.client.query(sql('set_replica'), ['off']);
          return copy.begin(ctx);
        },
        end: copy.end,
      },
    };
  },
};

/**
 * The copy of one source of a merged table: only this source's rows are emptied (DELETE,
 * not TRUNCATE: the other sources' rows stay, and their workers go on meanwhile), the
 * provider's rows are COPYed into a staging table, checked for keys held by other sources,
 * and inserted with the source's name (through dest: a partitioned dest routes them).
 */
export function mergeCopyHooks(target: RowTarget): CopyHooks {
  const statements = async (client: pg.ClientBase) => {
    const st = await applyStatements(client, target);
    if (!st?.merge) throw new ApplyError(target.dest, null, null, `relation "${target.dest}" does not exist`);
    return st.merge;
  };
  return {
    async begin(ctx) {
      const st = await statements(ctx.client);
      await ctx.client.query(st.empty);
      await ctx.client.query(st.stage);
      return `pg_temp.${MERGE_STAGE}`;
    },
    async end(ctx) {
      const st = await statements(ctx.client);
      await checkMergeCollision(ctx.client, target, st.stageCollision, []);
      await ctx.client.query(st.fill);
    },
  };
}
