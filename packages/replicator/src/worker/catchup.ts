/**
 * A table's catch-up after its copy: its own consumer applies, for this table only, the
 * events the copy's (first) snapshot did not see (idempotently while they may be in some
 * chunks of a chunked copy: see copy/chunked-copy.ts), batch by batch, until it reaches the main
 * stream's position at a tick taken after the copy; then the table is handed over to the
 * main stream (state 'ok', applied from batches ending after the catch-up's tick).
 */
import type pg from 'pg';
import { getBatchInfo, nextBatch, requestTick, tickSnapshot, unregisterConsumer, withTransaction } from '@pgferry/queue';
import { sql } from '../sql.js';
import { checkCaptureDrift } from '../stream/capture-drift.js';
import { applyBatchStep, positionPlan } from '../stream/batch-step.js';
import { historyError } from '../stream/tick-identity.js';
import { parseSnapshot, snapshotCovers, visibleInSnapshot } from '../state/snapshot.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';
import { applySettings, type StreamEnv } from './stream-env.js';

export type CatchupStep =
  /** Handed over, or the table left catching-up (removed, resynced). */
  | { step: 'done' }
  /** A batch was applied (or found applied), up to `tick`. */
  | { step: 'worked'; tick: bigint }
  /** No batch yet. */
  | { step: 'idle' };

/** The table's row, locked, while it is still in this catch-up (same copy consumer). */
async function lockTable(env: StreamEnv, sc: pg.ClientBase, t: SubscribedTable): Promise<SubscribedTable | undefined> {
  const { rows } = await sc.query<SubscriberTableRow>(sql('lock_subscriber_table'), [env.name, t.source]);
  const cur = rows[0] ? toSubscribedTable(rows[0]) : undefined;
  if (!cur || cur.state !== 'catching-up' || cur.copyConsumer !== t.copyConsumer) return undefined;
  return cur;
}

/**
 * The catch-up's tick was taken after the copy's last snapshot (see snapshotCovers): its
 * batches from there on hold no change any chunk of the copy saw.
 */
async function tickCoversCopy(env: StreamEnv, queue: string, t: SubscribedTable): Promise<boolean> {
  const snapshot = await tickSnapshot(env.provider, queue, t.copyTick!);
  return snapshot !== null && snapshotCovers(parseSnapshot(snapshot), parseSnapshot(t.copyLastSnapshot ?? t.copySnapshot!));
}

/**
 * The batch after the catch-up's tick may hold changes that some chunks of a chunked copy
 * saw and others did not (its tick does not cover the last chunk's snapshot): they are
 * applied idempotently. After that tick, strictly (a missing row is a divergence again).
 */
async function inCopyWindow(env: StreamEnv, queue: string, t: SubscribedTable): Promise<boolean> {
  if (t.copyLastSnapshot === null || t.copyLastSnapshot === t.copySnapshot) return false;
  return !(await tickCoversCopy(env, queue, t));
}

/** One step of a table's catch-up: hand it over, or apply one batch of its events. */
export async function catchupStep(env: StreamEnv, queue: string, t: SubscribedTable): Promise<CatchupStep> {
  const consumer = t.copyConsumer!;
  // Hand-off: once the catch-up has reached the main stream's tick, the main stream
  // applies this table's events from batches ending after the catch-up's tick.
  const handOff = await withTransaction(env.subscriber, async (sc) => {
    const at = await sc.query<{ at_tick_id: string | null }>(sql('lock_applied_tick'), [env.name]);
    const cur = await lockTable(env, sc, t);
    if (!cur) return 'gone' as const;
    const mainTick = at.rows[0]?.at_tick_id ?? null;
    const reachedMain = mainTick !== null && BigInt(cur.copyTick!) >= BigInt(mainTick);
    if (reachedMain && (await tickCoversCopy(env, queue, cur))) {
      await sc.query(sql('hand_off'), [env.name, t.source]);
      env.log('info', `${t.source}: caught up at tick ${cur.copyTick}; the main stream applies it from now on`);
      return 'handed-off' as const;
    }
    return reachedMain ? ('reached-main' as const) : ('behind' as const);
  });
  if (handOff === 'gone') return { step: 'done' };
  if (handOff === 'handed-off') {
    await unregisterConsumer(env.provider, queue, consumer, { ifExists: true }).catch(() => undefined);
    return { step: 'done' };
  }

  const batchId = await nextBatch(env.provider, queue, consumer, undefined, { asyncCommit: true });
  if (!batchId) {
    // Caught up with the main stream, but at a tick older than the copy: a newer tick
    // is needed before the hand-off (do not wait for the ticker's idle period). A branch
    // makes no ticks of its own: its worker passes the request up, and its provider's
    // next tick comes down to it.
    if (handOff === 'reached-main') await requestTick(env.provider, queue);
    return { step: 'idle' };
  }
  const info = await getBatchInfo(env.provider, batchId);
  const tick = BigInt(info.tickId);
  let at = tick;
  const step = await applyBatchStep({
    ...applySettings(env),
    batchId,
    queue,
    consumer,
    async prepare(sc) {
      const row = await lockTable(env, sc, t);
      if (!row) return 'gone';
      const position = positionPlan(row.copyTick!, info);
      if (position === 'applied') {
        // Applied before a restart, if the provider's tick of that id is the one applied.
        const recorded = { tickId: row.copyTick!, time: row.copyTickTime, eventSeq: row.copyTickSeq };
        const otherHistory = await historyError(env.provider, queue, env.name, recorded, { tickId: info.tickId, time: info.batchEnd, eventSeq: info.seqEnd }, row.source);
        if (otherHistory) throw otherHistory;
        at = BigInt(row.copyTick!);
      }
      if (position) return position;
      await checkCaptureDrift(env.provider, queue, [row.source]);
      // Events the copy's (first) snapshot saw are in the copied rows already.
      const snapshot = parseSnapshot(row.copySnapshot!);
      const target = (await inCopyWindow(env, queue, row)) ? { ...row, idempotent: true } : row;
      return { route: (ev) => (ev.extra1 === row.source && !visibleInSnapshot(ev.txid, snapshot) ? target : undefined) };
    },
    async record(sc) {
      await sc.query(sql('record_catchup_tick'), [env.name, t.source, info.tickId, info.batchEnd, info.seqEnd]);
    },
  });
  if (step.outcome === 'rewound') return { step: 'worked', tick: BigInt(step.tick) };
  return step.outcome === 'gone' ? { step: 'done' } : { step: 'worked', tick: at };
}
