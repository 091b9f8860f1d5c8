/**
 * Moving nodes in a cascade. Every node carries the same queue with the same tick ids (a
 * branch copies its provider's events and ticks), so a node's position is valid on any
 * node that still holds the events after it: change-provider registers the node there at
 * its position and points it there, in the transaction that holds its position, and its
 * worker follows. Nothing is copied, nothing applied twice or skipped.
 *
 * What keeps the events there: each branch keeps a watermark consumer on its provider at
 * the oldest position below it (updateWatermark, run by the branch's worker), so a provider
 * holds the events of its whole subtree, recursively up to the root.
 */
import createDebug from 'debug';
import type pg from 'pg';
import {
  Backoff,
  capturedTable,
  getConsumerInfo,
  lastTick,
  sleep,
  registerConsumerAt,
  unregisterConsumer,
  withClient,
  PgferryError,
  type Queryable,
} from '@pgferry/queue';
import { ReplicationSetupError } from '../errors.js';
import { sql } from '../sql.js';
import { listTables } from './tables.js';
import { listSequences } from '../stream/sequences.js';
import { isCopyConsumerOf, watermarkConsumerName } from './node-name.js';
import { providerNode, subscriberNode, type NodeInfo } from './nodes.js';

const debug = createDebug('pgferry:replicator:cascade');

/**
 * Move branch `branch`'s watermark consumer on its provider up to the oldest position of
 * the consumers of its own queue (the nodes below it, their copies, their watermarks), or
 * to the branch's own position when it has none. Never backwards. Returns the tick.
 */
export async function updateWatermark(provider: Queryable, branchDb: Queryable, branch: NodeInfo, ownTick: string): Promise<string> {
  const below = (await getConsumerInfo(branchDb, branch.queue)).map((c) => c.lastTick).filter((t): t is string => t !== null);
  const oldest = below.reduce((a, t) => (BigInt(t) < BigInt(a) ? t : a), ownTick);
  const name = watermarkConsumerName(branch.name);
  const [current] = await getConsumerInfo(provider, branch.queue, name);
  if (current?.lastTick && BigInt(current.lastTick) >= BigInt(oldest)) return current.lastTick;
  await registerConsumerAt(provider, branch.queue, name, oldest);
  return oldest;
}

export interface ChangeProviderOptions {
  /** The node to move (a leaf or a branch of the subscriber database). */
  node: string;
  /** The new provider's connection string, recorded for the node's worker. */
  providerLocation: string;
  /** The node's own connection string, recorded on the new provider (status, switchover). */
  location?: string;
  /** The old provider, to unregister the node there (null when it is gone). */
  oldProvider?: Queryable | null;
  /**
   * How long to wait for a new provider that has not reached the node's position yet (a
   * branch behind the root the node reads from); the node's apply waits meanwhile. 30 s.
   */
  waitMs?: number;
}

export interface ChangeProviderResult {
  node: string;
  from: string | null;
  to: string;
  /** The position the node continues from on the new provider. */
  tickId: string | null;
  /** Why the node's consumer on the old provider could not be removed (null: removed). */
  oldProviderCleanup: string | null;
}

/**
 * Move a leaf or a branch to another provider of its cascade (a root or a branch of the
 * same queue) at its exact position. Refused while a table of the node is being copied or
 * caught up (those read from the old provider), when the new provider lacks one of the
 * node's tables or sequences, would make a cycle, or no longer holds the events after the position.
 */
export async function changeProvider(subscriber: pg.Pool, newProvider: Queryable, options: ChangeProviderOptions): Promise<ChangeProviderResult> {
  const node = await subscriberNode(subscriber, options.node);
  const target = await providerNode(newProvider);
  if (target.name === node.name) throw new ReplicationSetupError(`node "${node.name}" cannot be its own provider`);
  if (target.queue !== node.queue) {
    throw new ReplicationSetupError(`node "${target.name}" carries queue "${target.queue}", not "${node.queue}" of node "${node.name}"`, {
      hint: 'a node moves within its cascade only',
    });
  }
  if (target.type === 'branch' && target.providerNode === node.name) {
    throw new ReplicationSetupError(`branch "${target.name}" reads from "${node.name}": moving "${node.name}" below it would make a cycle`);
  }
  const tables = await listTables(subscriber, node.name);
  const busy = tables.filter((t) => t.state !== 'ok');
  if (busy.length) {
    throw new ReplicationSetupError(`node "${node.name}" has tables being copied or caught up: ${busy.map((t) => `${t.source} (${t.state})`).join(', ')}`, {
      hint: 'they read from the current provider: move the node once they are ok',
    });
  }
  await checkProvides(newProvider, target, tables.map((t) => t.source));
  await checkProvidesSequences(newProvider, target, (await listSequences(subscriber, node.name)).map((s) => s.source));

  let registered = false;
  const tickId = await withClient(subscriber, async (client) => {
    await client.query('BEGIN');
    try {
      // The position, locked: the worker's apply waits, and then finds the node moved.
      const at = (await client.query<{ at_tick_id: string | null }>(sql('lock_applied_tick'), [node.name])).rows[0]?.at_tick_id ?? null;
      if (at === null) throw new ReplicationSetupError(`node "${node.name}" has no position yet`);
      await waitForTick(newProvider, target, node.name, at, options.waitMs ?? 30_000);
      const existed = (await getConsumerInfo(newProvider, node.queue, node.name)).length > 0;
      await registerConsumerAt(newProvider, node.queue, node.name, at).catch((err: unknown) => {
        if (!(err instanceof PgferryError) || err.code !== 'PF006') throw err;
        throw new ReplicationSetupError(`node "${target.name}" cannot take "${node.name}" at tick ${at}: ${err.reason}`, { hint: err.hint, cause: err });
      });
      registered = !existed;
      await newProvider.query(sql('insert_remote_node'), [node.name, node.type, node.queue, target.name, options.location ?? null]);
      await client.query(sql('move_provider'), [node.name, target.name, options.providerLocation]);
      await client.query('COMMIT');
      return at;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (registered) await unregisterConsumer(newProvider, node.queue, node.name, { ifExists: true }).catch(() => undefined);
      throw err;
    }
  });
  debug('moved %s from %s to %s at tick %s', node.name, node.providerNode, target.name, tickId);

  let oldProviderCleanup: string | null = 'the old provider was not given';
  if (options.oldProvider) {
    try {
      await forgetNode(options.oldProvider, node);
      oldProviderCleanup = null;
    } catch (err) {
      oldProviderCleanup = (err as Error).message;
    }
  }
  return { node: node.name, from: node.providerNode, to: target.name, tickId, oldProviderCleanup };
}

/**
 * Wait until provider `prov` has made (a root) or copied (a branch) tick `at`: a branch
 * may still be behind the position of a node that read from the root. Refused after
 * `waitMs`, naming both positions.
 */
async function waitForTick(provider: Queryable, prov: NodeInfo, node: string, at: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  const backoff = new Backoff({ minMs: 20, maxMs: 500 });
  for (;;) {
    const last = (await lastTick(provider, prov.queue)).tickId;
    if (BigInt(last) >= BigInt(at)) return;
    if (Date.now() > deadline) {
      throw new ReplicationSetupError(`${prov.type} "${prov.name}" is at tick ${last}, behind tick ${at} of node "${node}"`, {
        hint: `its worker has not caught up within ${waitMs} ms: check that it runs (pgferry replicate status --cascade), then move the node again`,
      });
    }
    await sleep(backoff.next());
  }
}

/** On a provider the node left: its consumers (own, copies, watermark) and its row. */
export async function forgetNode(provider: Queryable, node: NodeInfo): Promise<void> {
  const consumers = (await getConsumerInfo(provider, node.queue))
    .map((c) => c.consumerName)
    .filter((c) => c === node.name || c === watermarkConsumerName(node.name) || isCopyConsumerOf(node.name, c));
  for (const c of consumers) await unregisterConsumer(provider, node.queue, c, { ifExists: true });
  await provider.query(sql('delete_remote_node'), [node.name]);
}

/** The provider node has every one of `tables`: captured (a root), or applied by its main stream (a branch). */
async function checkProvides(provider: Queryable, prov: NodeInfo, tables: string[]): Promise<void> {
  const missing: string[] = [];
  if (prov.type === 'branch') {
    const own = new Map((await listTables(provider, prov.name)).map((t) => [t.source, t.state]));
    for (const t of tables) if (own.get(t) !== 'ok') missing.push(t);
  } else {
    for (const t of tables) if (!(await capturedTable(provider, prov.queue, t))) missing.push(t);
  }
  if (missing.length) {
    throw new ReplicationSetupError(`${prov.type} "${prov.name}" does not provide ${missing.join(', ')}`, {
      hint: prov.type === 'branch' ? `add them to the branch first and wait until they are ok` : 'capture them on the root (add-table)',
    });
  }
}

/** The provider node has every one of `sequences`: they exist (a root), or it replicates them (a branch). */
async function checkProvidesSequences(provider: Queryable, prov: NodeInfo, sequences: string[]): Promise<void> {
  if (!sequences.length) return;
  const has =
    prov.type === 'branch'
      ? new Set((await listSequences(provider, prov.name)).map((s) => s.source))
      : new Set((await provider.query<{ name: string }>(sql('sequence_values'), [sequences])).rows.map((r) => r.name));
  const missing = sequences.filter((s) => !has.has(s));
  if (missing.length) {
    throw new ReplicationSetupError(`${prov.type} "${prov.name}" does not provide sequence${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, {
      hint: prov.type === 'branch' ? 'add them to the branch first (add-sequence)' : 'create them on the root',
    });
  }
}
