/**
 * Table administration: add, remove and resync the tables of a subscription, list them.
 * add-table checks its input on both sides before changing anything; a step that fails
 * after an earlier one committed undoes it.
 */

import createDebug from 'debug';
import pg from 'pg';
import {
  captureTable,
  capturedTable,
  inTransaction,
  uncaptureTable,
  unregisterConsumer,
  withClient,
  type Queryable,
} from '@pgferry/queue';
import { ReplicationSetupError } from '../errors.js';
import { HandlerRegistry } from '../handlers/registry.js';
import { sql } from '../sql.js';
import { providerNode, subscriberNode } from './nodes.js';
import { checkLeafCanCopy, copyConsumerName } from './node-name.js';
import {
  checkCreatable,
  checkCreateRuns,
  checkDestFree,
  checkNoDuplicates,
  checkNotPgferry,
  checkProviderKey,
  checkSubscriberTable,
  type ColumnRow,
} from './table-checks.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';

const debug = createDebug('pgferry:replicator:tables');

interface TableInfoRow {
  name: string;
  kind: string;
  primary_key: string[] | null;
  estimated_rows: string;
}

export async function tableInfo(db: Queryable, table: string): Promise<(TableInfoRow & { columns: ColumnRow[] }) | null> {
  const { rows } = await db.query<TableInfoRow>(sql('table_info'), [table]).catch((err: unknown) => {
    // to_regclass() raises on a malformed name (42602) or an unknown database (0A000).
    const code = (err as { code?: string }).code;
    if (code !== '42602' && code !== '0A000') throw err;
    throw new ReplicationSetupError(`invalid table name "${table}": ${(err as Error).message}`, { cause: err });
  });
  if (!rows[0]) return null;
  const cols = await db.query<ColumnRow>(sql('table_columns'), [table]);
  return { ...rows[0], columns: cols.rows };
}

export interface AddTableOptions {
  /** The leaf (subscription) that replicates the table. */
  subscription: string;
  /** The table on the provider. */
  table: string;
  /** The table on the subscriber (default: the same name). */
  dest?: string;
  /** Replicate only these columns (must include the key). */
  columns?: string[];
  /** Key columns, for a table without a primary key. */
  keyColumns?: string[];
  /** Columns left out of captured row images. */
  ignoreColumns?: string[];
  /** Capture only rows matching this SQL condition. */
  filter?: string;
  /** Capture trigger form (default 'statement'). */
  mode?: 'statement' | 'row';
  /** Create the subscriber table from the provider's definition when it does not exist. */
  create?: boolean;
  /** How the table's changes land on the subscriber (see handlers/). Default 'row'. */
  handler?: string;
  /** The handler's arguments. */
  handlerArgs?: Record<string, string>;
  /** Where the handler is looked up (default: the built-in handlers). */
  handlers?: HandlerRegistry;
  /**
   * Federation: several subscriptions (one per provider) write the table, each row carrying
   * its subscription's name in this text column of the subscriber table (not replicated; with
   * `create`, it is created NOT NULL). Every subscription writing the table names the same
   * column; each copies, applies and truncates only its own rows, and a key held by another
   * source stops its stream (MergeCollisionError). The row and partition handlers (the
   * latter with mode=declarative).
   */
  mergeColumn?: string;
  /**
   * The replicator's writes into dest (copy and apply) are captured by the subscriber's own
   * capture of dest, so that a merged table can feed a queue on the target (capture it there:
   * captureTable, or add-table on a further subscriber). Default false: the replicator's
   * writes are not captured again (loop prevention). Row handler only.
   */
  captureApplied?: boolean;
}

/**
 * Add a table to a subscription: capture it on the provider, create or check it on the
 * subscriber, and mark it 'in-copy' (the worker copies it, catches up, and hands it to the
 * main stream).
 */
export async function addTable(provider: Queryable, subscriber: pg.Pool, options: AddTableOptions): Promise<SubscribedTable> {
  const leaf = await subscriberNode(subscriber, options.subscription);
  const src = await tableInfo(provider, options.table);
  if (!src) throw new ReplicationSetupError(`table "${options.table}" does not exist on the provider`);
  await checkProviderHasTable(provider, src.name);
  if (src.kind !== 'r' && src.kind !== 'p') throw new ReplicationSetupError(`"${options.table}" on the provider is not a table`);
  checkNotPgferry('provider', src.name);
  checkLeafCanCopy(leaf.name, src.name);
  checkNoDuplicates(src.name, 'the key columns', options.keyColumns);
  checkNoDuplicates(src.name, 'the replicated columns', options.columns);
  checkNoDuplicates(src.name, 'the ignored columns', options.ignoreColumns);
  const existingCapture = await capturedTable(provider, leaf.queue, src.name);
  const keys = options.keyColumns?.length ? options.keyColumns : existingCapture?.keyColumns ?? src.primary_key;
  if (!keys || keys.length === 0) {
    throw new ReplicationSetupError(
      `table ${src.name} has no primary key: add one, or name the columns that identify a row (key columns)`,
    );
  }
  const srcCols = new Map(src.columns.map((c) => [c.name, c]));
  const ignore = options.ignoreColumns ?? existingCapture?.ignoreColumns ?? [];
  for (const c of [...keys, ...ignore, ...(options.columns ?? [])]) {
    if (!srcCols.has(c)) throw new ReplicationSetupError(`table ${src.name} has no column "${c}" on the provider`);
  }
  const columns = (options.columns ?? src.columns.map((c) => c.name)).filter((c) => !ignore.includes(c));
  const missingKey = keys.filter((k) => !columns.includes(k));
  if (missingKey.length) throw new ReplicationSetupError(`the replicated columns of ${src.name} must include its key (${missingKey.join(', ')})`);
  checkProviderKey(src, keys);
  const mergeColumn = options.mergeColumn ?? null;
  const handler = (options.handlers ?? new HandlerRegistry()).definition(options.handler ?? 'row');
  if (mergeColumn !== null && !handler.merges) {
    throw new ReplicationSetupError(`a merge column needs the row or partition handler, not "${handler.name}"`, { hint: 'leave out --handler, or use --handler partition' });
  }
  if (options.captureApplied && handler.name !== 'row') {
    throw new ReplicationSetupError(`capture-applied needs the row handler, not "${handler.name}"`, { hint: 'leave out --handler' });
  }
  if (mergeColumn !== null) {
    if (mergeColumn === '') throw new ReplicationSetupError('the merge column needs a name');
    if (columns.includes(mergeColumn)) {
      throw new ReplicationSetupError(`merge column "${mergeColumn}" is a replicated column of ${src.name}: it holds the source's name on the subscriber`, {
        hint: 'choose another name, or leave the provider\'s column out (--columns, --ignore)',
      });
    }
  }

  // The subscriber side, checked before anything changes.
  const destName = options.dest ?? src.name;
  if (leaf.type === 'branch' && destName !== src.name) {
    throw new ReplicationSetupError(`branch "${leaf.name}" keeps its provider's table names: ${src.name} cannot go into ${destName}`, {
      hint: 'nodes below a branch, and the branch once promoted, read the same tables from it; use --dest on a leaf',
    });
  }
  if (leaf.type === 'branch' && (mergeColumn !== null || options.captureApplied)) {
    throw new ReplicationSetupError(`branch "${leaf.name}" keeps its provider's tables as they are: no merge column or capture-applied`, {
      hint: 'a branch captures what it applies already; merge several providers into a leaf',
    });
  }
  const handlerArgs = options.handlerArgs ?? {};
  const planned = (dest: string): SubscribedTable => ({
    ...toSubscribedTable({
      st_subscription: leaf.name, st_source: src.name, st_dest: dest, st_key_columns: keys, st_columns: columns, st_state: 'in-copy',
      st_copy_snapshot: null, st_copy_consumer: null, st_copy_tick: null, st_copy_tick_time: null, st_copy_tick_seq: null, st_sync_tick: null, st_copied_rows: null,
      st_copy_last_key: null, st_copy_last_snapshot: null, st_copy_estimate: null, st_copy_chunks: 0, st_copy_resumes: 0,
      st_copy_resumed_rows: '0', st_missing_updates: '0', st_missing_deletes: '0', st_handler: handler.name, st_handler_args: handlerArgs,
      st_merge_column: mergeColumn, st_capture_applied: options.captureApplied ?? false,
    }),
  });
  handler.create(planned(destName), handlerArgs); // bad arguments are refused before anything changes
  const dst = handler.destIsTable === false ? null : await tableInfo(subscriber, destName);
  let createSql: string | null = null;
  if (handler.destIsTable === false) {
    // The handler writes elsewhere: dest is a name only.
  } else if (dst) {
    checkNotPgferry('subscriber', dst.name);
    await checkDestFree(subscriber, leaf.name, dst.name, mergeColumn);
    await checkSubscriberTable(provider, subscriber, src, dst, columns, keys, mergeColumn);
  } else if (options.create) {
    const quoted = await checkCreatable(provider, subscriber, src, destName, columns);
    checkNotPgferry('subscriber', quoted);
    const defs = columns.map((c) => {
      const col = srcCols.get(c)!;
      return `${pg.escapeIdentifier(c)} ${col.type}${col.not_null ? ' NOT NULL' : ''}`;
    });
    if (mergeColumn !== null) defs.push(`${pg.escapeIdentifier(mergeColumn)} pg_catalog.text NOT NULL`);
    defs.push(`PRIMARY KEY (${keys.map(pg.escapeIdentifier).join(', ')})`);
    createSql = `CREATE TABLE ${quoted} (${defs.join(', ')})${handler.createClause?.(handlerArgs) ?? ''}`;
    await checkCreateRuns(subscriber, destName, createSql);
  } else {
    throw new ReplicationSetupError(`table "${destName}" does not exist on the subscriber (add it with create: true / --create)`);
  }
  const already = await subscriber.query(sql('subscribed_already'), [leaf.name, src.name]);
  if (already.rowCount) throw new ReplicationSetupError(`table ${src.name} is in subscription "${leaf.name}" already`);

  // Provider: capture (committed before the copy's snapshot is taken, so every change the
  // copy does not see is in the queue).
  const captureSettings = {
    keyColumns: keys,
    ignoreColumns: ignore,
    filter: options.filter ?? existingCapture?.filter ?? null,
    mode: options.mode ?? existingCapture?.mode ?? 'statement',
  };
  await captureTable(provider, leaf.queue, src.name, captureSettings).catch((err: unknown) => {
    throw new ReplicationSetupError(`cannot capture ${src.name}: ${(err as Error).message}`, { cause: err });
  });

  // Subscriber: create the table if asked, and register it, in one transaction.
  return withClient(subscriber, async (client) => {
    try {
      await client.query('BEGIN');
      if (createSql) await client.query(createSql);
      // The created table's canonical name (as tableInfo gives it).
      const dest = createSql ? (await client.query<TableInfoRow>(sql('table_info'), [destName])).rows[0]!.name : dst?.name ?? destName;
      await handler.prepare?.(client, planned(dest), handlerArgs);
      const { rows } = await client.query<SubscriberTableRow>(sql('insert_subscriber_table'), [
        leaf.name, src.name, dest, keys, columns, handler.name, handlerArgs, mergeColumn, options.captureApplied ?? false,
      ]);
      // A branch captures its tables as its provider does: the nodes below it read them
      // from its queue, and its writers are captured once it is promoted (until then its
      // queue refuses them: the tables change only by replication).
      if (leaf.type === 'branch') await captureTable(client, leaf.queue, dest, captureSettings);
      await client.query('COMMIT');
      debug('added %s -> %s to %s', src.name, dest, leaf.name);
      return toSubscribedTable(rows[0]!);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (!existingCapture) {
        await uncaptureTable(provider, leaf.queue, src.name).catch(() => undefined);
      }
      throw err instanceof ReplicationSetupError
        ? err
        : new ReplicationSetupError(`cannot add ${src.name} on the subscriber: ${(err as Error).message}`, { cause: err });
    }
  });
}

/**
 * A branch provides only the tables it replicates, once copied and applied by its main
 * stream: only then does its table hold exactly what its queue's ticks say (a copy taken
 * from it then matches its queue).
 */
async function checkProviderHasTable(provider: Queryable, table: string): Promise<void> {
  const prov = await providerNode(provider);
  if (prov.type !== 'branch') return;
  const t = (await listTables(provider, prov.name)).find((x) => x.source === table);
  if (!t) {
    throw new ReplicationSetupError(`branch "${prov.name}" does not replicate ${table}`, { hint: `add it to the branch first (add-table --node ${prov.name})` });
  }
  if (t.state !== 'ok') {
    throw new ReplicationSetupError(`table ${table} is ${t.state} on branch "${prov.name}": a node below it can copy it once the branch has it`, {
      hint: 'wait until the branch lists it as ok (pgferry replicate tables), then add it again',
    });
  }
}

/** The subscription's tables. */
export async function listTables(subscriber: Queryable, subscription: string): Promise<SubscribedTable[]> {
  const { rows } = await subscriber.query<SubscriberTableRow>(sql('subscriber_tables'), [subscription]);
  return rows.map(toSubscribedTable);
}

/** A table of the subscription, by its source or destination name (`public.` may be left out). */
export async function findTable(subscriber: Queryable, subscription: string, table: string): Promise<SubscribedTable> {
  const all = await listTables(subscriber, subscription);
  const t = all.find((x) => x.source === table || x.dest === table) ??
    all.find((x) => x.source === `public.${table}` || x.dest === `public.${table}`);
  if (!t) throw new ReplicationSetupError(`table "${table}" is not in subscription "${subscription}"`);
  return t;
}

/** Change a table's state under the main stream's lock (serialized with apply). */
async function withMainLock<T>(subscriber: pg.Pool, subscription: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(subscriber, (client) =>
    inTransaction(client, async () => {
      await client.query(sql('lock_applied_tick'), [subscription]);
      return fn(client);
    }),
  );
}

/**
 * Stop replicating a table: its subscriber row goes (the table and its data stay). With
 * dropCapture, the provider stops capturing it too (other leaves of the queue lose it).
 */
export async function removeTable(
  provider: Queryable,
  subscriber: pg.Pool,
  options: { subscription: string; table: string; dropCapture?: boolean },
): Promise<void> {
  const leaf = await subscriberNode(subscriber, options.subscription);
  const t = await findTable(subscriber, leaf.name, options.table);
  await withMainLock(subscriber, leaf.name, async (c) => {
    await c.query(sql('delete_subscriber_table'), [leaf.name, t.source]);
    await c.query(sql('delete_table_status'), [leaf.name, t.dest]);
    // A branch captures what it replicates (for the day it is promoted), and nothing else.
    if (leaf.type === 'branch' && (await capturedTable(c, leaf.queue, t.dest))) await uncaptureTable(c, leaf.queue, t.dest);
  });
  // Its catch-up consumer, also one a copy registered before its row was read here: left
  // behind, it would hold events back from rotation until a worker's cleanup came by.
  for (const c of new Set([t.copyConsumer, copyConsumerName(leaf.name, t.source)])) {
    if (c) await unregisterConsumer(provider, leaf.queue, c, { ifExists: true });
  }
  if (options.dropCapture) await uncaptureTable(provider, leaf.queue, t.source);
  debug('removed %s from %s', t.source, leaf.name);
}

/** Copy a table again from scratch (the worker truncates it, copies, catches up). */
export async function resyncTable(
  subscriber: pg.Pool,
  options: { subscription: string; table: string },
): Promise<void> {
  const leaf = await subscriberNode(subscriber, options.subscription);
  const t = await findTable(subscriber, leaf.name, options.table);
  await withMainLock(subscriber, leaf.name, async (c) => {
    await c.query(sql('resync_table'), [leaf.name, t.source]);
  });
  // Its catch-up consumer, if any, is dropped by the worker (which may be copying already).
  debug('resync %s in %s', t.source, leaf.name);
}
