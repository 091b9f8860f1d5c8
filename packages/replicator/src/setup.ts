/**
 * Node and table administration: create the root (provider) and leaf (subscriber) nodes,
 * add, remove and resync tables, list them. Every operation checks its input on both sides
 * before changing anything; a step that fails after an earlier one committed undoes it.
 */
import createDebug from 'debug';
import type pg from 'pg';
import {
  ConsumerNotFoundError,
  createQueue,
  getConsumerInfo,
  install,
  registerConsumer,
  unregisterConsumer,
  type Queryable,
} from '@pgferry/queue';
import { NodeNotFoundError, ReplicationSetupError } from './errors.js';
import { sql } from './sql.js';
import { quoteIdent } from './db.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from './tables-model.js';

const debug = createDebug('pgferry:replicator:setup');

export interface NodeInfo {
  name: string;
  type: 'root' | 'leaf';
  queue: string;
  providerNode: string | null;
  isLocal: boolean;
}

interface NodeRow {
  node_name: string;
  node_type: 'root' | 'leaf';
  queue_name: string;
  provider_node: string | null;
  is_local: boolean;
}

const toNode = (r: NodeRow): NodeInfo => ({
  name: r.node_name,
  type: r.node_type,
  queue: r.queue_name,
  providerNode: r.provider_node,
  isLocal: r.is_local,
});

/** Nodes this database knows (itself, and on a root its leaves). */
export async function listNodes(db: Queryable): Promise<NodeInfo[]> {
  const { rows } = await db.query<NodeRow>(sql('nodes'));
  return rows.map(toNode);
}

/** Make the database a root node: pgferry installed, the replication queue created. */
export async function createRootNode(provider: Queryable, options: { node: string; queue?: string }): Promise<NodeInfo> {
  await install(provider);
  const queue = options.queue ?? options.node;
  await createQueue(provider, queue);
  await provider.query(sql('insert_root_node'), [options.node, queue]);
  const node = (await listNodes(provider)).find((n) => n.name === options.node)!;
  if (node.type !== 'root' || !node.isLocal) {
    throw new ReplicationSetupError(`node "${options.node}" exists on the provider as a ${node.type}`);
  }
  debug('root node %s (queue %s)', node.name, node.queue);
  return node;
}

/** The provider's local root node. */
export async function rootNode(provider: Queryable): Promise<NodeInfo> {
  const root = (await listNodes(provider)).find((n) => n.isLocal && n.type === 'root');
  if (!root) throw new NodeNotFoundError('the provider database is not a root node (create it with createRootNode / create-root)');
  return root;
}

/**
 * Make the subscriber database a leaf of the provider's root: pgferry installed there, a
 * consumer (named like the leaf) registered on the root's queue, the position recorded.
 */
export async function createLeafNode(
  provider: Queryable,
  subscriber: Queryable,
  options: { node: string },
): Promise<NodeInfo> {
  const root = await rootNode(provider);
  await install(subscriber);
  const existing = (await listNodes(subscriber)).find((n) => n.name === options.node);
  if (existing && (!existing.isLocal || existing.type !== 'leaf' || existing.queue !== root.queue)) {
    throw new ReplicationSetupError(`node "${options.node}" exists on the subscriber as a different node`);
  }
  await registerConsumer(provider, root.queue, options.node);
  const [info] = await getConsumerInfo(provider, root.queue, options.node);
  await provider.query(sql('insert_remote_leaf_node'), [options.node, root.queue, root.name]);
  await subscriber.query(sql('insert_local_leaf_node'), [options.node, root.queue, root.name, info?.lastTick ?? null]);
  debug('leaf node %s on queue %s at tick %s', options.node, root.queue, info?.lastTick);
  return { name: options.node, type: 'leaf', queue: root.queue, providerNode: root.name, isLocal: true };
}

/** The subscriber's local leaf node of that name. */
export async function leafNode(subscriber: Queryable, name: string): Promise<NodeInfo> {
  const { rows } = await subscriber
    .query<NodeRow>(sql('leaf_node'), [name])
    .catch((err: unknown) => {
      if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return { rows: [] as NodeRow[] };
      throw err;
    });
  if (!rows[0]) throw new NodeNotFoundError(`the subscriber database has no leaf node "${name}" (create it with createLeafNode / create-leaf)`);
  return toNode(rows[0]);
}

interface ColumnRow {
  name: string;
  type: string;
  not_null: boolean;
  has_default: boolean;
}

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
}

interface CaptureRow {
  table_name: string;
  key_columns: string[];
  ignore_columns: string[];
  filter: string | null;
  mode: string;
}

async function capturedTable(provider: Queryable, queue: string, name: string): Promise<CaptureRow | undefined> {
  const { rows } = await provider.query<CaptureRow>(sql('captured_table'), [queue, name]);
  return rows[0];
}

/**
 * Add a table to a subscription: capture it on the provider, create or check it on the
 * subscriber, and mark it 'in-copy' (the worker copies it, catches up, and hands it to the
 * main stream).
 */
export async function addTable(provider: Queryable, subscriber: pg.Pool, options: AddTableOptions): Promise<SubscribedTable> {
  const leaf = await leafNode(subscriber, options.subscription);
  const src = await tableInfo(provider, options.table);
  if (!src) throw new ReplicationSetupError(`table "${options.table}" does not exist on the provider`);
  if (src.kind !== 'r' && src.kind !== 'p') throw new ReplicationSetupError(`"${options.table}" on the provider is not a table`);
  const existingCapture = await capturedTable(provider, leaf.queue, src.name);
  const keys = options.keyColumns?.length ? options.keyColumns : existingCapture?.key_columns ?? src.primary_key;
  if (!keys || keys.length === 0) {
    throw new ReplicationSetupError(
      `table ${src.name} has no primary key: add one, or name the columns that identify a row (key columns)`,
    );
  }
  const srcCols = new Map(src.columns.map((c) => [c.name, c]));
  const ignore = options.ignoreColumns ?? existingCapture?.ignore_columns ?? [];
  for (const c of [...keys, ...ignore, ...(options.columns ?? [])]) {
    if (!srcCols.has(c)) throw new ReplicationSetupError(`table ${src.name} has no column "${c}" on the provider`);
  }
  const columns = (options.columns ?? src.columns.map((c) => c.name)).filter((c) => !ignore.includes(c));
  const missingKey = keys.filter((k) => !columns.includes(k));
  if (missingKey.length) throw new ReplicationSetupError(`the replicated columns of ${src.name} must include its key (${missingKey.join(', ')})`);

  // The subscriber side, checked before anything changes.
  const destName = options.dest ?? src.name;
  const dst = await tableInfo(subscriber, destName);
  let createSql: string | null = null;
  if (dst) {
    const dstCols = new Map(dst.columns.map((c) => [c.name, c]));
    const problems: string[] = [];
    for (const c of columns) {
      const d = dstCols.get(c);
      if (!d) problems.push(`column "${c}" is missing`);
      else if (d.type !== srcCols.get(c)!.type) problems.push(`column "${c}" is ${d.type} on the subscriber but ${srcCols.get(c)!.type} on the provider`);
    }
    for (const d of dst.columns) {
      if (!columns.includes(d.name) && d.not_null && !d.has_default) problems.push(`column "${d.name}" is NOT NULL without a default and not replicated`);
    }
    if (problems.length) {
      throw new ReplicationSetupError(`subscriber table ${dst.name} does not match ${src.name}: ${problems.join('; ')}`);
    }
  } else if (options.create) {
    const defs = columns.map((c) => {
      const col = srcCols.get(c)!;
      return `${quoteIdent(c)} ${col.type}${col.not_null ? ' NOT NULL' : ''}`;
    });
    defs.push(`PRIMARY KEY (${keys.map(quoteIdent).join(', ')})`);
    createSql = `CREATE TABLE ${destName} (${defs.join(', ')})`;
  } else {
    throw new ReplicationSetupError(`table "${destName}" does not exist on the subscriber (add it with create: true / --create)`);
  }
  const already = await subscriber.query(sql('subscribed_already'), [leaf.name, src.name]);
  if (already.rowCount) throw new ReplicationSetupError(`table ${src.name} is in subscription "${leaf.name}" already`);

  // Provider: capture (committed before the copy's snapshot is taken, so every change the
  // copy does not see is in the queue).
  await provider.query('SELECT pgferry.capture_add_table($1, $2, $3, $4, $5, $6)', [
    leaf.queue,
    src.name,
    keys,
    ignore,
    options.filter ?? existingCapture?.filter ?? null,
    options.mode ?? existingCapture?.mode ?? 'statement',
  ]).catch((err: unknown) => {
    throw new ReplicationSetupError(`cannot capture ${src.name}: ${(err as Error).message}`, { cause: err });
  });

  // Subscriber: create the table if asked, and register it, in one transaction.
  const client = await subscriber.connect();
  try {
    await client.query('BEGIN');
    if (createSql) await client.query(createSql);
    // The created table's canonical name (as tableInfo gives it).
    const dest = createSql ? (await client.query<TableInfoRow>(sql('table_info'), [destName])).rows[0]!.name : dst!.name;
    const { rows } = await client.query<SubscriberTableRow>(sql('insert_subscriber_table'), [leaf.name, src.name, dest, keys, columns]);
    await client.query('COMMIT');
    debug('added %s -> %s to %s', src.name, dest, leaf.name);
    return toSubscribedTable(rows[0]!);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (!existingCapture) {
      await provider.query('SELECT pgferry.capture_remove_table($1, $2)', [leaf.queue, src.name]).catch(() => undefined);
    }
    throw err instanceof ReplicationSetupError
      ? err
      : new ReplicationSetupError(`cannot add ${src.name} on the subscriber: ${(err as Error).message}`, { cause: err });
  } finally {
    client.release();
  }
}

/** The subscription's tables. */
export async function listTables(subscriber: Queryable, subscription: string): Promise<SubscribedTable[]> {
  const { rows } = await subscriber.query<SubscriberTableRow>(sql('subscriber_tables'), [subscription]);
  return rows.map(toSubscribedTable);
}

async function findTable(subscriber: Queryable, subscription: string, table: string): Promise<SubscribedTable> {
  const all = await listTables(subscriber, subscription);
  const t = all.find((x) => x.source === table || x.dest === table) ??
    all.find((x) => x.source === `public.${table}` || x.dest === `public.${table}`);
  if (!t) throw new ReplicationSetupError(`table "${table}" is not in subscription "${subscription}"`);
  return t;
}

async function dropCopyConsumer(provider: Queryable, queue: string, consumer: string | null): Promise<void> {
  if (!consumer) return;
  await unregisterConsumer(provider, queue, consumer).catch((err: unknown) => {
    if (!(err instanceof ConsumerNotFoundError)) throw err;
  });
}

/** Change a table's state under the main stream's lock (serialized with apply). */
async function withMainLock<T>(subscriber: pg.Pool, subscription: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await subscriber.connect();
  try {
    await client.query('BEGIN');
    await client.query(sql('lock_applied_tick'), [subscription]);
    const r = await fn(client);
    await client.query('COMMIT');
    return r;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
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
  const leaf = await leafNode(subscriber, options.subscription);
  const t = await findTable(subscriber, leaf.name, options.table);
  await withMainLock(subscriber, leaf.name, async (c) => {
    await c.query(sql('delete_subscriber_table'), [leaf.name, t.source]);
    await c.query(sql('delete_table_status'), [leaf.name, t.dest]);
  });
  await dropCopyConsumer(provider, leaf.queue, t.copyConsumer);
  if (options.dropCapture) await provider.query('SELECT pgferry.capture_remove_table($1, $2)', [leaf.queue, t.source]);
  debug('removed %s from %s', t.source, leaf.name);
}

/** Copy a table again from scratch (the worker truncates it, copies, catches up). */
export async function resyncTable(
  subscriber: pg.Pool,
  options: { subscription: string; table: string },
): Promise<void> {
  const leaf = await leafNode(subscriber, options.subscription);
  const t = await findTable(subscriber, leaf.name, options.table);
  await withMainLock(subscriber, leaf.name, async (c) => {
    await c.query(sql('resync_table'), [leaf.name, t.source]);
  });
  // Its catch-up consumer, if any, is dropped by the worker (which may be copying already).
  debug('resync %s in %s', t.source, leaf.name);
}
