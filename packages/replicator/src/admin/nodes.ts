/**
 * Node administration: create the root (provider) and leaf (subscriber) nodes, find and
 * list them, and drop a leaf from both sides.
 */
import createDebug from 'debug';
import type pg from 'pg';
import {
  ConsumerNotFoundError,
  QueueNotFoundError,
  createQueue,
  getConsumerInfo,
  inTransaction,

  registerConsumer,
  unregisterConsumer,
  withClient,
  type Queryable,
} from '@pgferry/queue';
import { NodeNotFoundError, ReplicationSetupError, SubscriptionInUseError } from '../errors.js';
import { installReplication } from '../state/schema.js';
import { sql } from '../sql.js';
import { checkLeafCanCopy, checkNodeName, copyConsumerName, isCopyConsumerOf } from './node-name.js';
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
  checkNodeName(options.node);
  await installReplication(provider);
  const queue = options.queue ?? options.node;
  const nodes = await listNodes(provider);
  const other = nodes.find((n) => n.isLocal && n.type === 'root' && n.name !== options.node);
  if (other) throw new ReplicationSetupError(`the provider database is root node "${other.name}" already`);
  const existing = nodes.find((n) => n.name === options.node);
  if (existing && (existing.type !== 'root' || !existing.isLocal)) {
    throw new ReplicationSetupError(`node "${options.node}" exists on the provider as a ${existing.type}`, { hint: 'choose another name' });
  }
  if (existing && options.queue !== undefined && existing.queue !== options.queue) {
    throw new ReplicationSetupError(`root node "${options.node}" exists with queue "${existing.queue}", not "${options.queue}"`);
  }
  await createQueue(provider, existing?.queue ?? queue);
  await provider.query(sql('insert_root_node'), [options.node, queue]);
  const node = (await listNodes(provider)).find((n) => n.name === options.node)!;
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
 * Running it again for the same leaf and subscriber changes nothing. A name that another
 * subscriber database's leaf, the root or another consumer of the queue has is refused:
 * two databases sharing one consumer would each get half of the batches.
 */
export async function createLeafNode(
  provider: Queryable,
  subscriber: Queryable,
  options: { node: string },
): Promise<NodeInfo> {
  const name = options.node;
  checkNodeName(name);
  const root = await rootNode(provider);
  if (name === root.name) throw new ReplicationSetupError(`"${name}" is the root node's name`, { hint: 'choose another name for the leaf' });
  const known = (await listNodes(provider)).find((n) => n.name === name);
  if (known && known.queue !== root.queue) {
    throw new ReplicationSetupError(`node "${name}" exists on the provider on queue "${known.queue}"`, { hint: 'choose another name' });
  }
  await installReplication(subscriber);
  const existing = (await listNodes(subscriber)).find((n) => n.name === name);
  if (existing && (!existing.isLocal || existing.type !== 'leaf' || existing.queue !== root.queue)) {
    throw new ReplicationSetupError(`node "${name}" exists on the subscriber as a different node`);
  }
  const [consumer] = await getConsumerInfo(provider, root.queue, name);
  if (!existing && known) {
    throw new ReplicationSetupError(`leaf node "${name}" exists on the provider, but not in this subscriber database`, {
      hint: 'another subscriber database uses that name: choose another one (or, if it is left over, remove it with drop-leaf first)',
    });
  }
  if (existing && !consumer) {
    // Registering it again would start at the newest tick: the events since its last
    // position would be skipped silently.
    throw new ReplicationSetupError(`leaf node "${name}" has lost its consumer on queue "${root.queue}" (it was unregistered)`, {
      hint: 'remove the leaf with drop-leaf and create it again: its tables are then added and copied again',
    });
  }
  if (consumer && !known && !existing) {
    throw new ReplicationSetupError(`consumer "${name}" is registered on queue "${root.queue}" and is not a leaf node`, {
      hint: 'choose another name for the leaf',
    });
  }
  const collision = await subscriber.query<{ node_name: string }>(sql('lock_key_collision'), [name]);
  if (collision.rows[0]) {
    throw new ReplicationSetupError(`leaf "${name}" would share its worker lock with leaf "${collision.rows[0].node_name}" of this subscriber database`, {
      hint: 'choose another name',
    });
  }

  const registered = await registerConsumer(provider, root.queue, name);
  let recorded = false;
  try {
    const [info] = await getConsumerInfo(provider, root.queue, name);
    recorded = ((await provider.query(sql('insert_remote_leaf_node'), [name, root.queue, root.name])).rowCount ?? 0) > 0;
    await subscriber.query(sql('insert_local_leaf_node'), [name, root.queue, root.name, info?.lastTick ?? null]);
    debug('leaf node %s on queue %s at tick %s', name, root.queue, info?.lastTick);
  } catch (err) {
    // Undo what this call did on the provider: a registered consumer would block rotation.
    if (recorded) await provider.query(sql('delete_remote_leaf_node'), [name]).catch(() => undefined);
    if (registered) await unregisterConsumer(provider, root.queue, name).catch(() => undefined);
    throw err;
  }
  return { name, type: 'leaf', queue: root.queue, providerNode: root.name, isLocal: true };
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

export interface DropLeafResult {
  node: string;
  /** The root's queue (null when neither database knows the leaf). */
  queue: string | null;
  provider: {
    /** Consumers unregistered from the queue: the leaf's own and its copy consumers. */
    consumers: string[];
    /** The provider's row for the leaf was removed. */
    nodeRow: boolean;
  };
  subscriber: {
    nodeRow: boolean;
    /** Source tables taken out of the subscription (the subscriber tables and data stay). */
    tables: string[];
    appliedTick: boolean;
    statusRows: number;
  };
  /** A worker held the subscription's lock and force was given. */
  forced: boolean;
}

const missingSchema = (err: unknown) => ['42P01', '3F000'].includes((err as { code?: string }).code ?? '');

/** The subscriber's row of local leaf `name` (undefined: none, or pgferry not installed). */
async function localLeaf(subscriber: Queryable, name: string): Promise<NodeInfo | undefined> {
  try {
    const { rows } = await subscriber.query<NodeRow>(sql('leaf_node'), [name]);
    return rows[0] ? toNode(rows[0]) : undefined;
  } catch (err) {
    if (missingSchema(err)) return undefined;
    throw err;
  }
}

/** The subscriber's side of drop-leaf, in one transaction serialized with the apply. */
async function dropLeafOnSubscriber(subscriber: pg.Pool, name: string): Promise<DropLeafResult['subscriber'] & { copyConsumers: string[] }> {
  return withClient(subscriber, async (client) => {
    try {
      await client.query('BEGIN');
      await client.query(sql('lock_applied_tick'), [name]);
      const tables = await client.query<{ source: string; copy_consumer: string | null }>(sql('delete_subscription_tables'), [name]);
      const status = await client.query(sql('delete_subscription_status'), [name]);
      const tick = await client.query(sql('delete_applied_tick'), [name]);
      const node = await client.query(sql('delete_local_leaf_node'), [name]);
      await client.query('COMMIT');
      return {
        nodeRow: (node.rowCount ?? 0) > 0,
        tables: tables.rows.map((t) => t.source),
        appliedTick: (tick.rowCount ?? 0) > 0,
        statusRows: status.rowCount ?? 0,
        copyConsumers: tables.rows.map((t) => t.copy_consumer).filter((c): c is string => c !== null),
      };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (missingSchema(err)) return { nodeRow: false, tables: [], appliedTick: false, statusRows: 0, copyConsumers: [] };
      throw err;
    }
  });
}

/**
 * Hold the subscription's lock on the subscriber (a worker serving the leaf holds it), so
 * that no worker starts meanwhile. Returns the connection holding it (ending its session
 * releases it) and whether a worker held it and `force` was given.
 */
async function takeSubscriptionLock(subscriber: pg.Pool, name: string, force: boolean): Promise<{ lock: pg.PoolClient; forced: boolean }> {
  const lock = await subscriber.connect();
  lock.on('error', () => undefined); // held across awaits elsewhere: a lost session must not crash the process
  try {
    const { rows } = await lock.query<{ ok: boolean }>(sql('try_subscription_lock'), [name]);
    if (rows[0]?.ok) return { lock, forced: false };
    const holder = (await lock.query<{ pid: number; client: string | null; application: string | null }>(sql('subscription_lock_holder'), [name])).rows[0];
    const who = holder ? ` (subscriber backend pid ${holder.pid}${holder.client ? `, client ${holder.client}` : ''}${holder.application ? `, ${holder.application}` : ''})` : '';
    if (!force) {
      throw new SubscriptionInUseError(`a worker serves leaf "${name}"${who}`, {
        hint: 'stop that worker (or take the leaf out of its config) first; --force removes the leaf anyway, and the worker then fails on every step',
      });
    }
    return { lock, forced: true };
  } catch (err) {
    lock.release(true);
    throw err;
  }
}

/**
 * Remove a leaf node. On the provider: the leaf's consumer and all its copy consumers are
 * unregistered (none is left to block rotation), the leaf's row removed. On the subscriber:
 * its node row, its tables' rows, its applied tick and status rows go; the subscriber's
 * tables and their data stay, as does the provider's capture of them (other leaves of the
 * queue may use it: remove-table --drop-capture before drop-leaf stops it). Running it
 * again removes nothing and succeeds. Refused while a worker serves the leaf (it holds the
 * subscription's lock on the subscriber) unless `force`: stop the worker first.
 *
 * `subscriber` null: the subscriber database is gone; only the provider's side is removed,
 * and since no worker can be seen, only with `force`.
 */
export async function dropLeafNode(
  provider: Queryable,
  subscriber: pg.Pool | null,
  options: { node: string; force?: boolean },
): Promise<DropLeafResult> {
  const name = options.node;
  const root = await rootNode(provider);
  if (name === root.name) throw new ReplicationSetupError(`"${name}" is the root node, not a leaf`);
  const remote = (await listNodes(provider)).find((n) => n.name === name);
  if (remote && (remote.type !== 'leaf' || remote.isLocal)) {
    throw new ReplicationSetupError(`node "${name}" on the provider is not a leaf of root "${root.name}"`);
  }
  if (!subscriber && !options.force) {
    throw new ReplicationSetupError(`without the subscriber database, no worker serving leaf "${name}" can be seen`, {
      hint: 'give the subscriber database, or --force when it is gone (only the provider side is removed then)',
    });
  }
  const local = subscriber ? await localLeaf(subscriber, name) : undefined;
  if (local && (local.providerNode !== root.name || local.queue !== root.queue)) {
    throw new ReplicationSetupError(
      `leaf "${name}" of this subscriber database belongs to root "${local.providerNode}" (queue "${local.queue}"), not to the provider's root "${root.name}" (queue "${root.queue}")`,
      { hint: 'give the provider database of that root' },
    );
  }

  const held = subscriber ? await takeSubscriptionLock(subscriber, name, options.force ?? false) : undefined;
  try {
    const sub = subscriber
      ? await dropLeafOnSubscriber(subscriber, name)
      : { nodeRow: false, tables: [], appliedTick: false, statusRows: 0, copyConsumers: [] as string[] };

    const queue = remote?.queue ?? local?.queue ?? root.queue;
    const consumers = await getConsumerInfo(provider, queue).catch((err: unknown) => {
      if (err instanceof QueueNotFoundError) return [];
      throw err;
    });
    const ours = consumers
      .map((c) => c.consumerName)
      .filter((c) => c === name || isCopyConsumerOf(name, c) || sub.copyConsumers.includes(c));
    for (const c of ours) await unregisterConsumer(provider, queue, c, { ifExists: true });
    const nodeRow = ((await provider.query(sql('delete_remote_leaf_node'), [name])).rowCount ?? 0) > 0;
    debug('dropped leaf %s: consumers %o, tables %o', name, ours, sub.tables);
    const { copyConsumers: _, ...subscriberSide } = sub;
    return {
      node: name,
      queue: remote || local || ours.length ? queue : null,
      provider: { consumers: ours, nodeRow },
      subscriber: subscriberSide,
      forced: held?.forced ?? false,
    };
  } finally {
    held?.lock.release(true);
  }
}
