/**
 * The partition router (`partition`): rows land in the partition chosen by a time column
 * (period=hour|day|month|year, in a time zone) or by a hash of a column (hash=<n>),
 * partitions created on demand inside the batch's transaction (a batch that rolls back or
 * a worker that dies leaves none behind), for two layouts:
 *
 * - mode=declarative (default): dest is a partitioned table (PARTITION BY RANGE or HASH on
 *   the column); partitions are created PARTITION OF it, and rows land through dest as the
 *   row handler lands them (the server routes them). PostgreSQL requires the column in a
 *   partitioned table's primary key, so it must be a key column: a row whose column changes
 *   changes its key, captured as a delete of the old key and an insert of the new one.
 * - mode=tables: dest is a plain base table; each partition is a table like it that
 *   inherits from it (one table per period, the Londiste dispatch layout). Inserts go to
 *   their partition; deletes go through dest (they find the row anywhere); an update is a
 *   delete through dest and an insert into the row's partition, so a row whose time moved
 *   ends in exactly one partition. dest itself holds no rows; SELECT from it reads them all.
 *
 * Updates and deletes that find no row are counted, as by the row handler. The initial copy
 * lands in a temporary table and is distributed into the partitions (created as needed) in
 * the copy's transaction.
 *
 * Several sources into one table (federation: a merge column, mode=declarative only): rows
 * land as the row handler lands a merged table's (each source's apply, copy and TRUNCATE
 * touch only its rows; a key another source holds stops the stream), through dest. The
 * sources' workers then reach a new period at about the same time and each finds its
 * partition missing: creating it takes the lock the CREATE takes on dest first and looks
 * again, so the later one uses the partition the first one made instead of failing its
 * batch with "already exists". Their copies run one at a time (see lockForMergedCopyStatement).
 */
import createDebug from 'debug';
import pg from 'pg';
import { ApplyError, HandlerArgsError } from '../errors.js';
import { sql } from '../sql.js';
import { splitChanges, type KeyChange, type TableChanges } from '../stream/coalesce.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { parsePartitionArgs, suffixLength, type PartitionSpec } from './partition-args.js';
import {
  createPartitionStatement,
  lockForCreateStatement,
  lockForMergedCopyStatement,
  partitionPredicate,
  qualifiedDest,
  qualifiedPartition,
  routeStatement,
  type PartitionDest,
  type PartitionGroup,
} from './partition-layout.js';
import { applyRows, mergeCopyHooks, rowTargetOf } from './row.js';
import {
  addApplyResult,
  emptyApplyResult,
  type ApplyResult,
  type BatchScope,
  type CopyContext,
  type CopyHooks,
  type HandlerContext,
  type HandlerDefinition,
  type TableHandler,
} from './types.js';

const debug = createDebug('pgferry:replicator:partition');

/** Images per routing statement (as the row handler's chunks). */
const CHUNK = 10_000;
/** The copy's staging table (temporary: dropped at the copy's commit or rollback). */
const STAGE = 'pg_temp.pgferry_partition_copy';
const IDENTIFIER_MAX = 63;

type Queryable = pg.ClientBase;

async function destInfo(client: Queryable, dest: string, column: string): Promise<PartitionDest | null> {
  return (await client.query<PartitionDest>(sql('partition_dest'), [dest, column])).rows[0] ?? null;
}

/**
 * What the destination must be for `spec`, checked at add-table (prepare) and once per
 * batch by the worker (a destination changed since is reported, not written wrongly).
 */
function destProblem(spec: PartitionSpec, d: PartitionDest | null, dest: string): { message: string; hint: string } | null {
  const col = pg.escapeIdentifier(spec.column);
  if (!d) return { message: `table ${dest} does not exist on the subscriber`, hint: 'create it, or add the table with create' };
  if (!d.column_type) return { message: `table ${dest} has no column ${col}`, hint: 'column=<a column of dest>' };
  if (spec.scheme.kind === 'period') {
    if (!d.time_kind) {
      return { message: `column ${col} of ${dest} is ${d.column_type}: period=${spec.scheme.period} needs a timestamptz, timestamp or date column`, hint: 'choose a time column, or partition by hash=<n>' };
    }
    if (d.time_kind === 'date' && spec.scheme.period === 'hour') {
      return { message: `column ${col} of ${dest} is a date: it has no hours`, hint: 'period=day, month or year' };
    }
  }
  if (spec.mode === 'declarative') {
    const by = spec.scheme.kind === 'period' ? 'RANGE' : 'HASH';
    const hint = `create it partitioned first (CREATE TABLE ${dest} (...) PARTITION BY ${by} (${col})), let add-table create it (create, with dest not existing), or use mode=tables`;
    if (d.kind !== 'p') return { message: `mode=declarative: ${dest} is not a partitioned table`, hint };
    if (d.strategy !== (by === 'RANGE' ? 'r' : 'h') || d.partition_columns?.length !== 1 || d.partition_columns[0] !== spec.column) {
      return { message: `mode=declarative: ${dest} is not partitioned BY ${by} (${col}) alone`, hint };
    }
  } else if (d.kind !== 'r') {
    return {
      message: `mode=tables: ${dest} is ${d.kind === 'p' ? 'a partitioned table' : 'not a plain table'}: the partitions inherit from a plain base table`,
      hint: d.kind === 'p' ? 'use mode=declarative for a partitioned table' : 'replicate into a table',
    };
  }
  if (Buffer.byteLength(d.name) + suffixLength(spec) > IDENTIFIER_MAX) {
    return {
      message: `partition names of ${dest} would be longer than ${IDENTIFIER_MAX} bytes (${d.name} plus ${suffixLength(spec)}) and be truncated`,
      hint: 'replicate into a table with a shorter name (dest)',
    };
  }
  return null;
}

/** The time zone must be one the subscriber knows (checked by the server that uses it). */
async function checkTimezone(client: Queryable, spec: PartitionSpec, d: PartitionDest): Promise<void> {
  if (spec.scheme.kind !== 'period') return;
  if (d.time_kind !== 'timestamptz') {
    if (spec.scheme.timezone !== 'UTC') {
      throw new HandlerArgsError(`handler "partition": argument "timezone" applies to a timestamptz column; ${pg.escapeIdentifier(spec.column)} is a ${d.time_kind}`, {
        hint: 'leave timezone out',
      });
    }
    return;
  }
  await client.query('SAVEPOINT pgferry_partition_tz');
  try {
    await client.query('SELECT pg_catalog.timezone($1, pg_catalog.now())', [spec.scheme.timezone]);
    await client.query('RELEASE SAVEPOINT pgferry_partition_tz');
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT pgferry_partition_tz');
    throw new HandlerArgsError(`handler "partition": argument "timezone" is "${spec.scheme.timezone}": ${(err as Error).message}`, {
      hint: 'a name from pg_timezone_names (UTC, Europe/Tallinn, ...)',
      cause: err,
    });
  }
}

/** The partitions `source`'s rows need; those missing are created. */
async function ensurePartitions(
  client: Queryable,
  spec: PartitionSpec,
  d: PartitionDest,
  route: string,
  params: unknown[],
  log: (message: string) => void,
): Promise<PartitionGroup[]> {
  let groups = (await client.query<PartitionGroup>(route, params)).rows;
  if (groups.some((g) => g.partition !== null && !g.present)) {
    // Another transaction may be creating the same partition (another source's worker):
    // wait for it, then look again (a statement sees what committed before it started).
    await client.query(lockForCreateStatement(spec, d));
    groups = (await client.query<PartitionGroup>(route, params)).rows;
  }
  for (const g of groups) {
    if (g.partition === null || g.present) continue;
    if (g.taken) {
      // CREATE TABLE IF NOT EXISTS would do nothing, and the rows would land elsewhere or nowhere.
      const [how, fix] = spec.mode === 'declarative'
        ? ['attached to', `ALTER TABLE ${qualifiedDest(d)} ATTACH PARTITION ${qualifiedPartition(d, g.partition)} FOR VALUES ... (the period of its name)`]
        : ['inheriting from', `ALTER TABLE ${qualifiedPartition(d, g.partition)} INHERIT ${qualifiedDest(d)} (its rows in the period of its name)`];
      throw new ApplyError(qualifiedDest(d), null, null, `${qualifiedPartition(d, g.partition)} exists but is not a partition ${how} ${qualifiedDest(d)} (make it one: ${fix}; or rename it)`, { handler: 'partition' });
    }
    await client.query(createPartitionStatement(spec, d, g));
    g.present = true;
    log(`created partition ${qualifiedPartition(d, g.partition)}`);
  }
  return groups;
}

function nullTimeError(spec: PartitionSpec, table: SubscribedTable, c: KeyChange | null): ApplyError {
  return new ApplyError(
    table.dest,
    c?.key ?? null,
    c?.eventId ?? null,
    `column ${pg.escapeIdentifier(spec.column)} is NULL: a row without a time has no partition (period=${spec.scheme.kind === 'period' ? spec.scheme.period : ''})`,
    { handler: 'partition' },
  );
}

class PartitionRouter implements TableHandler {
  /** A merged table's copy (a merge column): this source's rows only, staged and filled as the row handler does. */
  private readonly merged: CopyHooks | null;

  constructor(
    private readonly table: SubscribedTable,
    private readonly spec: PartitionSpec,
  ) {
    this.merged = table.mergeColumn === null ? null : mergeCopyHooks(rowTargetOf(table));
  }

  /** The destination, read once per batch and checked (its partitioning may have been changed since add-table). */
  private dest(client: Queryable, scope: BatchScope): Promise<PartitionDest> {
    return scope.memo(`partition:${this.table.dest}:${this.spec.column}`, async () => {
      const d = await destInfo(client, this.table.dest, this.spec.column);
      const problem = destProblem(this.spec, d, this.table.dest);
      if (problem) throw new ApplyError(this.table.dest, null, null, `${problem.message} (${problem.hint})`, { handler: 'partition' });
      return d!;
    });
  }

  /** Route `changes`' images (chunked), creating missing partitions; with rows, the changes of each partition. */
  private async route(
    client: Queryable,
    d: PartitionDest,
    changes: KeyChange[],
    withRows: boolean,
    log: (message: string) => void,
  ): Promise<Map<string, KeyChange[]>> {
    const byPartition = new Map<string, KeyChange[]>();
    const statement = routeStatement(this.spec, d, { kind: 'json' }, withRows);
    for (let i = 0; i < changes.length; i += CHUNK) {
      const chunk = changes.slice(i, i + CHUNK);
      const groups = await ensurePartitions(client, this.spec, d, statement, [`[${chunk.map((c) => c.image!).join(',')}]`], log);
      for (const g of groups) {
        if (g.partition === null) throw nullTimeError(this.spec, this.table, g.ords ? chunk[Number(g.ords[0]) - 1]! : null);
        if (!withRows) continue;
        const list = byPartition.get(g.partition) ?? [];
        for (const o of g.ords!) list.push(chunk[Number(o) - 1]!);
        byPartition.set(g.partition, list);
      }
    }
    return byPartition;
  }

  async apply(ctx: HandlerContext, changes: TableChanges): Promise<ApplyResult> {
    const { client, scope } = ctx;
    const d = await this.dest(client, scope);
    const log = (message: string) => {
      debug('%s: %s', this.table.dest, message);
      ctx.log('info', message);
    };
    const landing = [...changes.keys.values()].filter((c) => c.image !== null);
    if (this.spec.mode === 'declarative') {
      // The server routes the rows: their partitions must exist first.
      if (landing.length) await this.route(client, d, landing, false, log);
      return applyRows(client, scope, rowTargetOf(this.table), changes);
    }
    return this.applyTables(ctx.client, scope, d, changes, log);
  }

  /** mode=tables: see the module's comment. */
  private async applyTables(
    client: Queryable,
    scope: BatchScope,
    d: PartitionDest,
    changes: TableChanges,
    log: (message: string) => void,
  ): Promise<ApplyResult> {
    const base = this.table;
    const result = emptyApplyResult();
    const { deletes, updates, inserts } = splitChanges(changes);
    const asDeletes = (cs: KeyChange[], image: (c: KeyChange) => string): TableChanges => ({
      truncate: false,
      keys: new Map(cs.map((c) => [c.key, { ...c, existedBefore: true, image: null, lastImage: image(c) }])),
    });
    // TRUNCATE and DELETE through the base table reach every partition (they inherit from it).
    if (changes.truncate || deletes.length) {
      const r = await applyRows(client, scope, base, { truncate: changes.truncate, keys: asDeletes(deletes, (c) => c.lastImage).keys });
      result.deleted = r.deleted;
      result.missingDeletes = r.missingDeletes;
      result.missingKeys.push(...r.missingKeys);
    }
    // An update: the row leaves whatever partition holds it and lands in its partition now.
    const moved = updates.length ? await this.takeOut(client, scope, updates) : { found: [], missing: emptyApplyResult() };
    result.updated = moved.found.length;
    addApplyResult(result, moved.missing);
    const landing = [...moved.found, ...inserts];
    if (landing.length) {
      const byPartition = await this.route(client, d, landing, true, log);
      for (const [partition, cs] of byPartition) {
        const target = { ...base, dest: qualifiedPartition(d, partition) };
        await applyRows(client, scope, target, { truncate: false, keys: new Map(cs.map((c) => [c.key, { ...c, existedBefore: false }])) });
      }
    }
    result.inserted = inserts.length;
    return result;
  }

  /**
   * Delete the rows of `updates` through the base table, wherever they are; those found are
   * to land again. In bulk; only when some row was not found (the subscriber lost it), one
   * by one to tell which, counted as missing updates as by the row handler.
   */
  private async takeOut(client: Queryable, scope: BatchScope, updates: KeyChange[]): Promise<{ found: KeyChange[]; missing: ApplyResult }> {
    const missing = emptyApplyResult();
    const take = (cs: KeyChange[]) => applyRows(client, scope, this.table, { truncate: false, keys: new Map(cs.map((c) => [c.key, { ...c, existedBefore: true, image: null, lastImage: c.image! }])) });
    await client.query('SAVEPOINT pgferry_partition');
    const r = await take(updates);
    if (r.deleted === updates.length) {
      await client.query('RELEASE SAVEPOINT pgferry_partition');
      return { found: updates, missing };
    }
    await client.query('ROLLBACK TO SAVEPOINT pgferry_partition');
    await client.query('RELEASE SAVEPOINT pgferry_partition');
    const found: KeyChange[] = [];
    for (const c of updates) {
      const one = await take([c]);
      // More than one: the key was in two partitions (written there by hand): it lands once now.
      if (one.deleted >= 1) found.push(c);
      else {
        missing.missingUpdates++;
        if (missing.missingKeys.length < 10) missing.missingKeys.push(c.key);
      }
    }
    return { found, missing };
  }

  readonly copy: CopyHooks = {
    begin: async (ctx: CopyContext): Promise<string> => {
      const d = await destInfo(ctx.client, this.table.dest, this.spec.column);
      const problem = destProblem(this.spec, d, this.table.dest);
      if (problem) throw new HandlerArgsError(`handler "partition": ${problem.message}`, { hint: problem.hint });
      if (this.merged) {
        await ctx.client.query(lockForMergedCopyStatement(d!));
        return this.merged.begin(ctx);
      }
      // TRUNCATE of dest empties every partition (attached, or inheriting).
      await ctx.client.query(`TRUNCATE ${qualifiedDest(d!)}`);
      const cols = this.table.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
      await ctx.client.query(`CREATE TEMPORARY TABLE ${STAGE.slice('pg_temp.'.length)} ON COMMIT DROP AS SELECT ${cols} FROM ${qualifiedDest(d!)} WITH NO DATA`);
      return STAGE;
    },
    end: async (ctx: CopyContext, relation: string): Promise<void> => {
      const d = (await destInfo(ctx.client, this.table.dest, this.spec.column))!;
      const log = (message: string) => debug('%s (copy): %s', this.table.dest, message);
      const groups = await ensurePartitions(ctx.client, this.spec, d, routeStatement(this.spec, d, { kind: 'relation', relation }, true), [], log);
      const cols = this.table.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
      for (const g of groups) {
        if (g.partition === null) {
          throw new ApplyError(this.table.dest, null, null, `rows of the copy have a NULL ${pg.escapeIdentifier(this.spec.column)}: a row without a time has no partition`, { handler: 'partition' });
        }
      }
      // A merged table (mode=declarative): this source's rows emptied, the staged ones checked
      // for keys of other sources and inserted through dest (the server routes them).
      if (this.merged) return this.merged.end!(ctx, relation);
      if (this.spec.mode === 'declarative') {
        await ctx.client.query(`INSERT INTO ${qualifiedDest(d)} (${cols}) SELECT ${cols} FROM ${relation}`);
        return;
      }
      for (const g of groups) {
        const where = partitionPredicate(this.spec, d, `s.${pg.escapeIdentifier(this.spec.column)}`, g);
        await ctx.client.query(`INSERT INTO ${qualifiedPartition(d, g.partition!)} (${cols}) SELECT ${cols} FROM ${relation} AS s WHERE ${where}`);
      }
      log(`copy distributed over ${groups.length} partition(s)`);
    },
  };
}

export const partitionHandler: HandlerDefinition = {
  name: 'partition',
  description: 'rows into partitions by a time column (period=hour|day|month|year) or by hash (hash=<n>), created on demand',
  merges: true,
  create(table, args) {
    return new PartitionRouter(table, parsePartitionArgs(table, args));
  },
  createClause(args) {
    const spec = args.mode === 'tables' ? null : { column: args.column ?? '', by: args.hash !== undefined ? 'HASH' : 'RANGE' };
    return spec ? ` PARTITION BY ${spec.by} (${pg.escapeIdentifier(spec.column)})` : '';
  },
  async prepare(client, table, args) {
    const spec = parsePartitionArgs(table, args);
    const d = await destInfo(client, table.dest, spec.column);
    const problem = destProblem(spec, d, table.dest);
    if (problem) throw new HandlerArgsError(`handler "partition": ${problem.message}`, { hint: problem.hint });
    await checkTimezone(client, spec, d!);
  },
};
