/**
 * Node administration: create the root (provider), branch and leaf (subscriber) nodes, find
 * and list them, and drop a leaf or a branch from both sides. Moving nodes in a cascade
 * (change-provider, switchover, takeover) is in cascade.ts.
 */
import createDebug from 'debug';
import type pg from 'pg';
import {
  QueueNotFoundError,
  createQueue,
  dropQueue,
  getConsumerInfo,
  getTick,
  registerConsumer,
  registerConsumerAt,
  startBranchQueue,
  unregisterConsumer,
  withClient,
  type Queryable,
} from '@pgferry/queue';
import { NodeNotFoundError, ReplicationSetupError, SubscriptionInUseError } from '../errors.js';
import { installReplication } from '../state/schema.js';
import { sql } from '../sql.js';
import { checkNodeName, isCopyConsumerOf, watermarkConsumerName } from './node-name.js';

const debug = createDebug('pgferry:replicator:setup');

export type NodeType = 'root' | 'branch' | 'leaf';

export interface NodeInfo {
  name: string;
  type: NodeType;
  queue: string;
  providerNode: string | null;
  isLocal: boolean;
  /** A subscriber node's connection string as its provider knows it (on the provider's rows). */
  location: string | null;
  /** Where a local subscriber node's worker reads from (null: the worker's configured provider). */
  providerLocation: string | null;
}

export interface NodeRow {
  node_name: string;
  node_type: NodeType;
  queue_name: string;
  provider_node: string | null;
  is_local: boolean;
  node_location: string | null;
  provider_location: string | null;
}

export const toNode = (r: NodeRow): NodeInfo => ({
  name: r.node_name,
  type: r.node_type,
  queue: r.queue_name,
  providerNode: r.provider_node,
  isLocal: r.is_local,
  location: r.node_location ?? null,
  providerLocation: r.provider_location ?? null,
});

/** Nodes this database knows (itself, and on a provider its subscribers), by name. */
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
  const other = nodes.find((n) => n.isLocal && n.type !== 'leaf' && n.name !== options.node);
  if (other) throw new ReplicationSetupError(`the provider database is ${other.type} node "${other.name}" already`);
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

/** The database's local node that has the queue: its root, or its branch. */
export async function providerNode(provider: Queryable): Promise<NodeInfo> {
  const node = (await listNodes(provider)).find((n) => n.isLocal && (n.type === 'root' || n.type === 'branch'));
  if (!node) throw new NodeNotFoundError('the provider database is neither a root nor a branch node (create it with create-root or create-branch)');
  return node;
}

/** The provider's local root node (where the application writes). */
export async function rootNode(provider: Queryable): Promise<NodeInfo> {
  const node = await providerNode(provider).catch(() => null);
  if (node?.type !== 'root') {
    throw new NodeNotFoundError(
      node ? `the provider database is branch node "${node.name}", not the root (its tables change only by replication)` : 'the provider database is not a root node (create it with createRootNode / create-root)',
    );
  }
  return node;
}

export interface CreateSubscriberNodeOptions {
  node: string;
  /** The provider's connection string, recorded for the node's worker (and change-provider). */
  providerLocation?: string;
  /** The subscriber's connection string as the other nodes reach it (status, switchover). */
  location?: string;
}

/**
 * Make the subscriber database a leaf of the provider (a root or a branch): pgferry
 * installed there, a consumer (named like the leaf) registered on the provider's queue,
 * the position recorded. Running it again for the same leaf and subscriber changes
 * nothing. A name that another subscriber database's node, the provider or another
 * consumer of the queue has is refused: two databases sharing one consumer would each get
 * half of the batches.
 */
export function createLeafNode(provider: Queryable, subscriber: Queryable, options: CreateSubscriberNodeOptions): Promise<NodeInfo> {
  return createSubscriberNode(provider, subscriber, 'leaf', options);
}

/**
 * Make the subscriber database a branch of the provider (a root or a branch): as a leaf,
 * and also a provider for further nodes. Its queue (the same name) carries the provider's
 * events and ticks, copied by its worker, so that the nodes below it can move to another
 * node of the cascade at any tick without a copy. Its replicated tables are captured there
 * too, closed to the application's writes (inserts into the queue are disabled) until the
 * branch is promoted to root (switchover, takeover).
 */
export function createBranchNode(provider: Queryable, subscriber: Queryable, options: CreateSubscriberNodeOptions): Promise<NodeInfo> {
  return createSubscriberNode(provider, subscriber, 'branch', options);
}

async function createSubscriberNode(
  provider: Queryable,
  subscriber: Queryable,
  type: 'leaf' | 'branch',
  options: CreateSubscriberNodeOptions,
): Promise<NodeInfo> {
  const name = options.node;
  checkNodeName(name);
  const prov = await providerNode(provider);
  if (name === prov.name) throw new ReplicationSetupError(`"${name}" is the provider node's name`, { hint: `choose another name for the ${type}` });
  const known = (await listNodes(provider)).find((n) => n.name === name);
  if (known && (known.queue !== prov.queue || known.type !== type)) {
    throw new ReplicationSetupError(`node "${name}" exists on the provider as a ${known.type} of queue "${known.queue}"`, { hint: 'choose another name' });
  }
  await installReplication(subscriber);
  const local = await listNodes(subscriber);
  const existing = local.find((n) => n.name === name);
  if (existing && (!existing.isLocal || existing.type !== type || existing.queue !== prov.queue)) {
    throw new ReplicationSetupError(`node "${name}" exists on the subscriber as a different node (${existing.isLocal ? 'local' : 'remote'} ${existing.type} of queue "${existing.queue}")`);
  }
  if (type === 'branch' && !existing) {
    const other = local.find((n) => n.isLocal && n.type !== 'leaf');
    if (other) throw new ReplicationSetupError(`the subscriber database is ${other.type} node "${other.name}" already: a database has one queue-carrying node`);
  }
  const [consumer] = await getConsumerInfo(provider, prov.queue, name);
  if (!existing && known) {
    throw new ReplicationSetupError(`${type} node "${name}" exists on the provider, but not in this subscriber database`, {
      hint: 'another subscriber database uses that name: choose another one (or, if it is left over, remove it with drop-leaf first)',
    });
  }
  if (existing && !consumer) {
    // Registering it again would start at the newest tick: the events since its last
    // position would be skipped silently.
    throw new ReplicationSetupError(`${type} node "${name}" has lost its consumer on queue "${prov.queue}" (it was unregistered)`, {
      hint: `remove the ${type} with drop-leaf and create it again: its tables are then added and copied again`,
    });
  }
  if (consumer && !known && !existing) {
    throw new ReplicationSetupError(`consumer "${name}" is registered on queue "${prov.queue}" and is not a node`, {
      hint: `choose another name for the ${type}`,
    });
  }
  const collision = await subscriber.query<{ node_name: string }>(sql('lock_key_collision'), [name]);
  if (collision.rows[0]) {
    throw new ReplicationSetupError(`node "${name}" would share its worker lock with node "${collision.rows[0].node_name}" of this subscriber database`, {
      hint: 'choose another name',
    });
  }

  const registered = await registerConsumer(provider, prov.queue, name);
  let recorded = false;
  let queueCreated = false;
  try {
    const [info] = await getConsumerInfo(provider, prov.queue, name);
    const at = info?.lastTick ? await getTick(provider, prov.queue, info.lastTick) : null;
    if (!at) throw new ReplicationSetupError(`the position of "${name}" on queue "${prov.queue}" is gone (tick ${info?.lastTick})`);
    recorded = !known && ((await provider.query(sql('insert_remote_node'), [name, type, prov.queue, prov.name, options.location ?? null])).rowCount ?? 0) > 0;
    if (type === 'branch' && !existing) {
      // The branch's queue starts where its consumer on the provider does, and so does its
      // watermark there (the oldest position below it: see admin/cascade.ts).
      queueCreated = await createQueue(subscriber, prov.queue);
      await startBranchQueue(subscriber, prov.queue, at);
      await registerConsumerAt(provider, prov.queue, watermarkConsumerName(name), at.tickId);
    }
    await subscriber.query(sql('insert_local_node'), [name, type, prov.queue, prov.name, options.providerLocation ?? null, at.tickId, at.time, at.eventSeq]);
    debug('%s node %s on queue %s at tick %s', type, name, prov.queue, at.tickId);
  } catch (err) {
    // Undo what this call did: a registered consumer would block rotation.
    if (queueCreated) await dropQueue(subscriber, prov.queue, { force: true }).catch(() => undefined);
    if (recorded) await provider.query(sql('delete_remote_node'), [name]).catch(() => undefined);
    if (registered) await unregisterConsumer(provider, prov.queue, name).catch(() => undefined);
    if (type === 'branch' && !existing) await unregisterConsumer(provider, prov.queue, watermarkConsumerName(name), { ifExists: true }).catch(() => undefined);
    throw err;
  }
  return (await subscriberNode(subscriber, name));
}

/** The subscriber's local subscriber node (a leaf or a branch) of that name. */
export async function subscriberNode(subscriber: Queryable, name: string): Promise<NodeInfo> {
  const node = await localSubscriberNode(subscriber, name);
  if (!node) throw new NodeNotFoundError(`the subscriber database has no leaf or branch node "${name}" (create it with create-leaf or create-branch)`);
  return node;
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
    /** Provider sequences taken out of the subscription (the subscriber sequences stay). */
    sequences: string[];
    appliedTick: boolean;
    statusRows: number;
  };
  /** A worker held the subscription's lock and force was given. */
  forced: boolean;
}

const missingSchema = (err: unknown) => ['42P01', '3F000'].includes((err as { code?: string }).code ?? '');

/** The subscriber's row of local leaf or branch `name` (undefined: none, or pgferry not installed). */
async function localSubscriberNode(subscriber: Queryable, name: string): Promise<NodeInfo | undefined> {
  try {
    const { rows } = await subscriber.query<NodeRow>(sql('subscriber_node'), [name]);
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
      const sequences = await client.query<{ source: string }>(sql('delete_subscription_sequences'), [name]);
      const status = await client.query(sql('delete_subscription_status'), [name]);
      const tick = await client.query(sql('delete_applied_tick'), [name]);
      const node = await client.query(sql('delete_local_node'), [name]);
      await client.query('COMMIT');
      return {
        nodeRow: (node.rowCount ?? 0) > 0,
        tables: tables.rows.map((t) => t.source),
        sequences: sequences.rows.map((q) => q.source),
        appliedTick: (tick.rowCount ?? 0) > 0,
        statusRows: status.rowCount ?? 0,
        copyConsumers: tables.rows.map((t) => t.copy_consumer).filter((c): c is string => c !== null),
      };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (missingSchema(err)) return { nodeRow: false, tables: [], sequences: [], appliedTick: false, statusRows: 0, copyConsumers: [] };
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
 * Remove a leaf or a branch node. On the provider: its consumer and all its copy consumers
 * are unregistered (none is left to block rotation), its row removed. On the subscriber:
 * its node row, its tables' and sequences' rows, its applied tick and status rows go (a
 * branch's queue too); the subscriber's tables, sequences and data stay, as does the provider's capture of them
 * (other nodes of the queue may use it: remove-table --drop-capture before drop-leaf stops
 * it). Running it again removes nothing and succeeds. Refused while a worker serves the
 * node (it holds the subscription's lock on the subscriber) unless `force`: stop the worker
 * first; and for a branch that still has nodes below it (move them first).
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
  const prov = await providerNode(provider);
  if (name === prov.name) throw new ReplicationSetupError(`"${name}" is the provider's own ${prov.type} node, not a node below it`);
  const remote = (await listNodes(provider)).find((n) => n.name === name);
  if (remote && (remote.type === 'root' || remote.isLocal)) {
    throw new ReplicationSetupError(`node "${name}" on the provider is not a node below ${prov.type} "${prov.name}"`);
  }
  if (!subscriber && !options.force) {
    throw new ReplicationSetupError(`without the subscriber database, no worker serving node "${name}" can be seen`, {
      hint: 'give the subscriber database, or --force when it is gone (only the provider side is removed then)',
    });
  }
  const local = subscriber ? await localSubscriberNode(subscriber, name) : undefined;
  if (local && (local.providerNode !== prov.name || local.queue !== prov.queue)) {
    throw new ReplicationSetupError(
      `node "${name}" of this subscriber database reads from "${local.providerNode}" (queue "${local.queue}"), not from the provider's node "${prov.name}" (queue "${prov.queue}")`,
      { hint: 'give the provider database of that node' },
    );
  }
  if (subscriber && local?.type === 'branch') {
    const below = (await listNodes(subscriber)).filter((n) => !n.isLocal && n.providerNode === name);
    if (below.length) {
      throw new ReplicationSetupError(`branch "${name}" has nodes below it: ${below.map((n) => n.name).join(', ')}`, {
        hint: 'move them to another provider (change-provider) or drop them first',
      });
    }
  }

  const held = subscriber ? await takeSubscriptionLock(subscriber, name, options.force ?? false) : undefined;
  try {
    const sub = subscriber
      ? await dropLeafOnSubscriber(subscriber, name)
      : { nodeRow: false, tables: [], sequences: [], appliedTick: false, statusRows: 0, copyConsumers: [] as string[] };
    if (subscriber && local?.type === 'branch') await dropQueue(subscriber, local.queue, { force: true }).catch(() => undefined);

    const queue = remote?.queue ?? local?.queue ?? prov.queue;
    const consumers = await getConsumerInfo(provider, queue).catch((err: unknown) => {
      if (err instanceof QueueNotFoundError) return [];
      throw err;
    });
    const ours = consumers
      .map((c) => c.consumerName)
      .filter((c) => c === name || c === watermarkConsumerName(name) || isCopyConsumerOf(name, c) || sub.copyConsumers.includes(c));
    for (const c of ours) await unregisterConsumer(provider, queue, c, { ifExists: true });
    const nodeRow = ((await provider.query(sql('delete_remote_node'), [name])).rowCount ?? 0) > 0;
    debug('dropped node %s: consumers %o, tables %o', name, ours, sub.tables);
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
