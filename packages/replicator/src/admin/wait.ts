/**
 * Waiting for a subscription (Londiste's wait-provider, wait-root and wait-sync): until it
 * has applied everything its provider, or the root, had committed when the wait began; or
 * until every table is copied and applied by the main stream.
 *
 * The tick waits are about the main stream, which applies the tables in state 'ok': a table
 * still copying or catching up is not covered (wait-sync first).
 *
 * "Committed when the wait began" is a tick made then (a root's force_tick: its snapshot
 * holds every commit before it), or the root's tick a branch applied last (a branch makes no
 * ticks of its own). Not "no events pending": a tick taken while
 * a transaction was open counts that transaction's events as consumed, although they come
 * in the next batch.
 */
import { forceTick, getQueueInfo, type Queryable } from '@pgferry/queue';
import { sql } from '../sql.js';
import { ReplicationSetupError, WaitTimeoutError } from '../errors.js';
import { listTables } from './tables.js';
import { providerNode, rootNode, subscriberNode, type NodeInfo } from './nodes.js';

export interface WaitOptions {
  /** Give up after this long (ms), with WaitTimeoutError. Default: wait as long as it takes. */
  timeoutMs?: number;
  /** How often the subscriber is read (ms, default 200). */
  pollMs?: number;
  signal?: AbortSignal;
  /** Called at every poll. */
  onProgress?: (p: WaitProgress) => void;
}

export interface WaitProgress {
  node: string;
  /** The tick to reach (wait-provider, wait-root). */
  targetTick?: string;
  /** The subscriber's applied tick now. */
  appliedTick?: string | null;
  /** Tables not yet 'ok' (wait-sync). */
  tablesNotOk?: string[];
  /** The worker's last error for the subscription, if it is failing now. */
  lastError: string | null;
  waitedMs: number;
}

export interface WaitTickResult {
  node: string;
  /** The tick the subscriber had to reach, and the one it had applied when it did. */
  targetTick: string;
  appliedTick: string;
  waitedMs: number;
}

export interface WaitSyncResult {
  node: string;
  tables: number;
  waitedMs: number;
}

/** Until `subscription` applied what its provider (a root or a branch) had committed at the call. */
export async function waitForProvider(provider: Queryable, subscriber: Queryable, subscription: string, o: WaitOptions = {}): Promise<WaitTickResult> {
  const [node, prov] = await Promise.all([subscriberNode(subscriber, subscription), providerNode(provider)]);
  if (node.providerNode !== prov.name) {
    throw new ReplicationSetupError(`node "${subscription}" reads from node "${node.providerNode}", not from "${prov.name}" (the --provider given)`, {
      hint: `give the database of node "${node.providerNode}", or use wait-root with the root`,
    });
  }
  return waitForTick(subscriber, node, prov.type === 'root' ? await forceTick(provider, prov.queue) : await branchPosition(provider, prov), o);
}

/**
 * What a branch had committed: the root's tick it applied last (recorded with the data; its
 * own queue's tick of that id comes just after the commit, and the leaf gets it from there).
 */
async function branchPosition(branch: Queryable, node: NodeInfo): Promise<string> {
  const { rows } = await branch.query<{ at_tick_id: string | null }>(sql('applied_tick'), [node.name]);
  return rows[0]?.at_tick_id ?? (await getQueueInfo(branch, node.queue))[0]!.lastTickId;
}

/** Until `subscription` applied what the root had committed at the call, through every branch between. */
export async function waitForRoot(root: Queryable, subscriber: Queryable, subscription: string, o: WaitOptions = {}): Promise<WaitTickResult> {
  const [node, top] = await Promise.all([subscriberNode(subscriber, subscription), rootNode(root)]);
  // A cascade keeps the root's queue name and tick ids down to its leaves.
  if (node.queue !== top.queue) {
    throw new ReplicationSetupError(`node "${subscription}" reads queue "${node.queue}", not the root's "${top.queue}" (node "${top.name}")`, {
      hint: 'give the root of the cascade the node belongs to',
    });
  }
  return waitForTick(subscriber, node, await forceTick(root, top.queue), o);
}

/** Until every table of `subscription` is in state 'ok' (copied, caught up, applied by the main stream). */
export async function waitForSync(subscriber: Queryable, subscription: string, o: WaitOptions = {}): Promise<WaitSyncResult> {
  await subscriberNode(subscriber, subscription);
  let tables = 0;
  const r = await poll(subscriber, subscription, o, async () => {
    const all = await listTables(subscriber, subscription);
    tables = all.length;
    const notOk = all.filter((t) => t.state !== 'ok').map((t) => `${t.source} (${t.state})`);
    return { done: notOk.length === 0, progress: { tablesNotOk: notOk } };
  }, (p) => `tables not yet ok: ${p.tablesNotOk?.join(', ')}`);
  return { node: subscription, tables, waitedMs: r.waitedMs };
}

async function waitForTick(subscriber: Queryable, node: NodeInfo, target: string, o: WaitOptions): Promise<WaitTickResult> {
  let applied: string | null = null;
  const r = await poll(subscriber, node.name, o, async () => {
    const { rows } = await subscriber.query<{ at_tick_id: string | null }>(sql('applied_tick'), [node.name]);
    applied = rows[0]?.at_tick_id ?? null;
    return { done: applied !== null && BigInt(applied) >= BigInt(target), progress: { targetTick: target, appliedTick: applied } };
  }, () => `tick ${target} not applied yet (applied: ${applied ?? 'none'})`);
  return { node: node.name, targetTick: target, appliedTick: applied!, waitedMs: r.waitedMs };
}

/** Poll `check` until done, reporting progress; on timeout, WaitTimeoutError with `where` and the worker's last error. */
async function poll(
  subscriber: Queryable,
  subscription: string,
  o: WaitOptions,
  check: () => Promise<{ done: boolean; progress: Partial<WaitProgress> }>,
  where: (p: WaitProgress) => string,
): Promise<{ waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    o.signal?.throwIfAborted();
    const { done, progress } = await check();
    const error = await subscriber.query<{ rs_last_error: string }>(sql('main_error'), [subscription]);
    const p: WaitProgress = { node: subscription, ...progress, lastError: error.rows[0]?.rs_last_error ?? null, waitedMs: Date.now() - started };
    o.onProgress?.(p);
    if (done) return { waitedMs: p.waitedMs };
    if (o.timeoutMs !== undefined && p.waitedMs >= o.timeoutMs) {
      throw new WaitTimeoutError(`node "${subscription}": ${where(p)} after ${(p.waitedMs / 1000).toFixed(1)} s${p.lastError ? `; its worker fails: ${p.lastError}` : ''}`, {
        hint: p.lastError ? 'fix what the worker reports (status shows it)' : 'is its worker running? (status shows its position and lag)',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, o.pollMs ?? 200));
  }
}
