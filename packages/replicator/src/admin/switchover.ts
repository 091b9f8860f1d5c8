/**
 * The root role moving in a cascade. switchover (planned): the old root stops taking
 * writes and makes a last tick, its branch applies up to it and becomes the root, the old
 * root becomes a branch of it at that tick (its tables already equal: no copy). takeover
 * (failover): the root is gone; its branch becomes the root at the last tick it applied,
 * the other survivors follow, and what could not be recovered is reported. resurrect: the
 * old root, back, is fenced, its lost events listed, and it rejoins as a branch, its
 * tables copied again.
 */
import createDebug from 'debug';
import type pg from 'pg';
import {
  capturedTables,
  closeQueue,
  externalTick,
  getEventsBetweenTicks,
  getTick,
  openQueue,
  registerConsumerAt,
  setQueueConfig,
  sleep,
  withTransaction,
  type ExternalTick,
  type RawEvent,
} from '@pgferry/queue';
import { ReplicationSetupError, ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import { changeProvider, forgetNode } from './cascade.js';
import { watermarkConsumerName } from './node-name.js';
import { providerNode, rootNode, subscriberNode, type NodeInfo } from './nodes.js';
import { listTables, tableInfo } from './tables.js';
import { advanceSequences, forwardSequences, listSequences } from '../stream/sequences.js';

const debug = createDebug('pgferry:replicator:switchover');

export interface SwitchoverOptions {
  /** Connection strings the two nodes record for each other (their workers follow them). */
  oldRootLocation: string;
  newRootLocation: string;
  /** Longest wait for writers to end and for the branch to apply the last tick (ms). Default 60000. */
  timeoutMs?: number;
  /** Each step as it starts (for a CLI's progress). */
  onStep?: (step: string) => void;
}

export interface SwitchoverResult {
  oldRoot: string;
  newRoot: string;
  /** The old root's last tick: the new root's first. */
  tickId: string;
  /** From the old root closed to writes to the new root open to them (ms). */
  writePauseMs: number;
  /** The new root's sequences set forward to the old root's values before it took writes. */
  sequencesMoved: number;
}

interface AppliedTickRow {
  at_tick_id: string | null;
  at_tick_time: Date | null;
  at_event_seq: string | null;
}

async function appliedTick(db: pg.Pool, node: string): Promise<AppliedTickRow | undefined> {
  return (await db.query<AppliedTickRow>(sql('applied_tick'), [node])).rows[0];
}

/**
 * Hand the root role from `oldRoot` to its branch in `newRoot` (a direct branch that has
 * every table the root captures). Writes on the old root fail from its last tick until the
 * new root is open; should the branch not reach that tick within timeoutMs, the old root is
 * opened again and nothing changed. Run it again the other way to switch back.
 */
export async function switchover(oldRoot: pg.Pool, newRoot: pg.Pool, o: SwitchoverOptions): Promise<SwitchoverResult> {
  const step = o.onStep ?? (() => undefined);
  const root = await rootNode(oldRoot);
  const branch = await providerNode(newRoot);
  if (branch.type !== 'branch' || branch.providerNode !== root.name) {
    throw new ReplicationSetupError(`node "${branch.name}" is not a branch of root "${root.name}"`, {
      hint: 'switch over to a branch that reads from the root (move it there with change-provider first)',
    });
  }
  const captured = await capturedTables(oldRoot, root.queue);
  const branchTables = new Map((await listTables(newRoot, branch.name)).map((t) => [t.source, t.state]));
  const missing = captured.filter((c) => branchTables.get(c.table) !== 'ok').map((c) => c.table);
  if (missing.length) {
    throw new ReplicationSetupError(`branch "${branch.name}" does not have every table of root "${root.name}" ok: ${missing.join(', ')}`, {
      hint: 'add them to the branch and wait until they are ok',
    });
  }
  const timeoutMs = o.timeoutMs ?? 60_000;

  step(`closing root ${root.name} to writes`);
  const pauseStart = Date.now();
  let last: ExternalTick;
  let sequencesMoved = 0;
  try {
    last = await closeQueue(oldRoot, root.queue, { timeoutMs });
    step(`waiting for ${branch.name} to apply tick ${last.tickId}`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = await appliedTick(newRoot, branch.name);
      if (at?.at_tick_id && BigInt(at.at_tick_id) >= BigInt(last.tickId)) break;
      if (Date.now() > deadline) throw new ReplicationStateError(`branch "${branch.name}" did not apply tick ${last.tickId} within ${timeoutMs} ms (is its worker running?)`);
      await sleep(10);
    }
    // The branch's worker makes the tick on its queue after the apply's commit: it may not
    // have yet. Made here (the same tick, idempotent) before the queue takes ticks of its
    // own, and before the old root is registered there at it.
    if (!(await getTick(newRoot, branch.queue, last.tickId))) await externalTick(newRoot, branch.queue, last);
    // The old root's sequences as they are now, closed to writes: the new root's next values
    // come after every value the old root handed out.
    step(`setting ${branch.name}'s sequences forward to ${root.name}'s`);
    sequencesMoved = await forwardSequences(oldRoot, newRoot, branch.name);
  } catch (err) {
    await openQueue(oldRoot, root.queue).catch(() => undefined);
    step(`gave up: root ${root.name} takes writes again`);
    throw err;
  }

  step(`promoting ${branch.name}`);
  await promote(newRoot, branch);
  const writePauseMs = Date.now() - pauseStart;

  step(`making ${root.name} a branch of ${branch.name} at tick ${last.tickId}`);
  await forgetNode(oldRoot, branch);
  await demote(oldRoot, newRoot, root, branch, last, { providerLocation: o.newRootLocation, location: o.oldRootLocation, resync: false });
  debug('switchover %s -> %s at tick %s (writes paused %d ms)', root.name, branch.name, last.tickId, writePauseMs);
  return { oldRoot: root.name, newRoot: branch.name, tickId: last.tickId, writePauseMs, sequencesMoved };
}

/** The branch becomes the root: its row says so and its queue takes its own writes and ticks. */
async function promote(db: pg.Pool, branch: NodeInfo): Promise<void> {
  await withTransaction(db, async (c) => {
    await c.query(sql('lock_applied_tick'), [branch.name]);
    await c.query(sql('become_root'), [branch.name]);
    await openQueue(c, branch.queue);
  });
}

/**
 * The old root becomes a branch of the new one at tick `at`: registered there (and its
 * watermark), its captured tables and the new root's sequences in its own subscription,
 * the tables 'ok' (a switchover: they equal the new root's at that tick) or to be copied
 * again (resurrect: they may hold lost changes).
 */
async function demote(
  oldRoot: pg.Pool,
  newRoot: pg.Pool,
  root: NodeInfo,
  newRootNode: NodeInfo,
  at: ExternalTick,
  o: { providerLocation: string; location: string; resync: boolean },
): Promise<void> {
  const tables = await Promise.all(
    (await capturedTables(oldRoot, root.queue)).map(async (c) => {
      const info = await tableInfo(oldRoot, c.table);
      return { table: c.table, keys: c.keyColumns, columns: (info?.columns ?? []).map((x) => x.name).filter((n) => !c.ignoreColumns.includes(n)) };
    }),
  );
  await registerConsumerAt(newRoot, root.queue, root.name, at.tickId);
  await registerConsumerAt(newRoot, root.queue, watermarkConsumerName(root.name), at.tickId);
  await newRoot.query(sql('insert_remote_node'), [root.name, 'branch', root.queue, newRootNode.name, o.location]);
  // The new root's sequences (those it replicated as a branch), under the same names.
  const sequences = (await listSequences(newRoot, newRootNode.name)).map((s) => s.dest);
  await withTransaction(oldRoot, async (c) => {
    await c.query(sql('become_branch'), [root.name, newRootNode.name, o.providerLocation, at.tickId, at.time, at.eventSeq]);
    for (const t of tables) {
      await c.query(sql('insert_applied_table'), [root.name, t.table, t.keys, t.columns]);
      if (o.resync) await c.query(sql('resync_table'), [root.name, t.table]);
    }
    for (const seq of sequences) await c.query(sql('insert_subscriber_sequence'), [root.name, seq, seq]);
  });
}

export interface SurvivorReport {
  node: string;
  /** The survivor's position when the root was taken over. */
  appliedTick: string | null;
  outcome: 'moved' | 'ahead' | 'elsewhere';
  note: string;
}

export interface TakeoverReport {
  deadRoot: string;
  newRoot: string;
  /** The last tick the new root had applied: changes of the dead root after it are lost to the cascade. */
  failoverTick: string;
  survivors: SurvivorReport[];
  /** Whether the dead root could be reached and closed to writes (fenced). */
  deadRootFenced: boolean;
  /** The new root's sequences moved `sequenceMargin` increments on (none without a margin). */
  sequences: { sequence: string; lastValue: string }[];
}

export interface Survivor {
  node: string;
  db: pg.Pool;
}

/**
 * The root is gone: its branch in `newRoot` becomes the root at the last tick it applied.
 * The other nodes that read from the dead root (`survivors`) follow it when they are not
 * ahead of that tick; one that is ahead has changes the new root never got and is reported
 * (its tables need a resync), never moved silently. The report is kept on the new root
 * (repl_takeover), for resurrect and for status. `deadRoot`: the old root's database if it
 * can be reached after all (a partition): it is closed to writes then, so that it cannot
 * diverge unnoticed.
 */
export async function takeover(
  newRoot: pg.Pool,
  o: {
    newRootLocation: string;
    survivors?: Survivor[];
    deadRoot?: pg.Pool | null;
    /**
     * Move each of the new root's sequences this many increments past its value before it
     * takes writes. Its values are the dead root's as of the last batch it applied; values
     * the dead root drew after that are drawn again unless they were fewer than the margin.
     * Default 0.
     */
    sequenceMargin?: number;
  },
): Promise<TakeoverReport> {
  const branch = await providerNode(newRoot);
  if (branch.type !== 'branch' || !branch.providerNode) throw new ReplicationSetupError(`node "${branch.name}" is not a branch: there is nothing to take over`);
  const deadName = branch.providerNode;
  const at = await appliedTick(newRoot, branch.name);
  if (!at?.at_tick_id || !at.at_tick_time || at.at_event_seq === null) throw new ReplicationStateError(`branch "${branch.name}" has no recorded position`);
  const failover: ExternalTick = { tickId: at.at_tick_id, time: at.at_tick_time, eventSeq: at.at_event_seq };
  // Its queue must have the tick it stands at (a worker that died before making it).
  if (!(await getTick(newRoot, branch.queue, failover.tickId))) await externalTick(newRoot, branch.queue, failover);

  let deadRootFenced = false;
  if (o.deadRoot) {
    deadRootFenced = await fence(o.deadRoot, branch.queue);
  }
  const sequences = await advanceSequences(newRoot, branch.name, o.sequenceMargin ?? 0);
  await promote(newRoot, branch);

  const survivors: SurvivorReport[] = [];
  for (const s of o.survivors ?? []) {
    const node = await subscriberNode(s.db, s.node);
    const tick = (await appliedTick(s.db, node.name))?.at_tick_id ?? null;
    if (node.providerNode !== deadName) {
      survivors.push({ node: node.name, appliedTick: tick, outcome: 'elsewhere', note: `reads from ${node.providerNode}: unchanged` });
    } else if (tick !== null && BigInt(tick) > BigInt(failover.tickId)) {
      survivors.push({
        node: node.name,
        appliedTick: tick,
        outcome: 'ahead',
        note: `applied ticks up to ${tick}, past the failover tick ${failover.tickId}: its changes of ticks ${failover.tickId}..${tick} are not on the new root; not moved (resync its tables, or drop and create it again under ${branch.name})`,
      });
    } else {
      await changeProvider(s.db, newRoot, { node: node.name, providerLocation: o.newRootLocation, oldProvider: null });
      survivors.push({ node: node.name, appliedTick: tick, outcome: 'moved', note: `reads from ${branch.name} from tick ${tick}` });
    }
  }
  const report: TakeoverReport = { deadRoot: deadName, newRoot: branch.name, failoverTick: failover.tickId, survivors, deadRootFenced, sequences };
  await newRoot.query(sql('record_takeover'), [deadName, branch.name, failover.tickId, { ...report, deadRootLocation: branch.providerLocation }]);
  debug('takeover of %s by %s at tick %s: %o', deadName, branch.name, failover.tickId, survivors);
  return report;
}

/** Close a root that was taken over to its writers (best effort: false when it cannot be reached). */
async function fence(db: pg.Pool, queue: string): Promise<boolean> {
  return setQueueConfig(db, queue, { disable_insert: true, external_ticker: true }).then(
    () => true,
    () => false,
  );
}

/** A change the dead root committed after the failover tick: lost to the cascade. */
export interface LostChange {
  table: string;
  op: string;
  key: string | null;
  eventId: string;
}

export interface ResurrectResult {
  node: string;
  newRoot: string;
  failoverTick: string;
  /** The old root's last tick, made when it was closed. */
  lastTick: string;
  lost: LostChange[];
  /** Lost changes per table and operation. */
  summary: Record<string, Record<string, number>>;
  /** The raw events, for a dump. */
  events: RawEvent[];
}

/**
 * The old root of a takeover is back: close it to writes (whatever its applications still
 * write fails from now on), list the changes it committed after the failover tick (lost to
 * the cascade: they are in its own queue), and make it a branch of the new root at the
 * failover tick, its tables copied again from the new root (they hold those lost changes).
 */
export async function resurrect(
  oldRoot: pg.Pool,
  newRoot: pg.Pool,
  o: { oldRootLocation: string; newRootLocation: string; maxEvents?: number },
): Promise<ResurrectResult> {
  const root = await rootNode(oldRoot);
  const current = await providerNode(newRoot);
  if (current.type !== 'root') throw new ReplicationSetupError(`node "${current.name}" is not the root`);
  const record = (await newRoot.query<{ tk_old_root: string; tk_tick_id: string }>(sql('takeovers'))).rows.find((r) => r.tk_old_root === root.name);
  if (!record) throw new ReplicationSetupError(`root "${current.name}" has no takeover of "${root.name}" recorded`, { hint: 'resurrect is for a root that was taken over' });
  const failoverTick = await getTick(newRoot, current.queue, record.tk_tick_id);
  if (!failoverTick) throw new ReplicationStateError(`the failover tick ${record.tk_tick_id} is gone from ${current.name}'s queue`);

  const last = await closeQueue(oldRoot, root.queue);
  const events = await getEventsBetweenTicks(oldRoot, root.queue, record.tk_tick_id, last.tickId, { limit: o.maxEvents ?? 1_000_000 });
  const lost = events.map((e) => ({ table: e.extra1 ?? '', op: e.type ?? '', key: e.extra2, eventId: e.id }));
  const summary: Record<string, Record<string, number>> = {};
  for (const l of lost) {
    const t = (summary[l.table] ??= {});
    t[l.op] = (t[l.op] ?? 0) + 1;
  }
  await demote(oldRoot, newRoot, root, current, failoverTick, { providerLocation: o.newRootLocation, location: o.oldRootLocation, resync: true });
  debug('resurrected %s under %s: %d lost change(s)', root.name, current.name, lost.length);
  return { node: root.name, newRoot: current.name, failoverTick: record.tk_tick_id, lastTick: last.tickId, lost, summary, events };
}
