/**
 * The main stream of a subscription: one batch per step, applied for every table in state
 * 'ok' (whose sync tick, if any, is before the batch's tick), the batch's tick recorded as
 * the subscription's position in the same subscriber transaction, with the subscription's
 * sequences set forward to the provider's values (stream/sequences.ts).
 */
import type pg from 'pg';
import { externalTick, getBatchInfo, getTick, nextBatch, type ExternalTick } from '@pgferry/queue';
import { copyBatchEvents } from '../stream/branch-copy.js';
import { applyExecute } from '../stream/execute.js';
import { DDL_EVENT, applyDdl } from '../stream/ddl.js';
import { checkCaptureDrift } from '../stream/capture-drift.js';
import { forwardSequences } from '../stream/sequences.js';
import { ReplicationStateError, type ProviderHistoryError } from '../errors.js';
import { sql } from '../sql.js';
import { applyBatchStep, positionPlan } from '../stream/batch-step.js';
import { historyError } from '../stream/tick-identity.js';
import type { BatchApplyResult } from '../stream/batch-apply.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';
import { applySettings, type StreamEnv } from './stream-env.js';

export interface MainStepResult {
  tickId: string;
  batchId: string;
  /** Undefined when the batch had been applied before a restart (it was only finished). */
  result?: BatchApplyResult;
}

/**
 * Apply the next batch of the main stream; undefined when there was none, 'moved' when the
 * node reads from another provider now (the caller follows it), 'rewound' when the
 * subscriber was behind its provider's position and the stream went back to its own.
 */
export async function mainStep(env: StreamEnv, queue: string): Promise<MainStepResult | 'moved' | 'rewound' | undefined> {
  // Not waiting for the provider's flush: a batch opened again after a crash is checked
  // against the position the subscriber recorded, as after any restart.
  const batchId = await nextBatch(env.provider, queue, env.name, undefined, { asyncCommit: true });
  if (!batchId) return undefined;
  const info = await getBatchInfo(env.provider, batchId);
  const tick = BigInt(info.tickId);
  const providerTick: ExternalTick = { tickId: info.tickId, time: info.batchEnd, eventSeq: info.seqEnd };
  // The tables the batch applies to: in state 'ok', handed over before this batch.
  const tables = new Map<string, SubscribedTable>();
  const loadTables = async (sc: pg.ClientBase) => {
    tables.clear();
    for (const row of (await sc.query<SubscriberTableRow>(sql('subscriber_tables'), [env.name])).rows) {
      const t = toSubscribedTable(row);
      if (t.state === 'ok' && (t.syncTick === null || BigInt(t.syncTick) < tick)) tables.set(t.source, t);
    }
  };
  const step = await applyBatchStep({
    ...applySettings(env),
    batchId,
    queue,
    consumer: env.name,
    // DDL from the provider, at its point of the batch; the tables' columns change with it.
    // A branch's own capture of its tables follows (capture_ddl_begin/end): the event itself
    // passes down with the branch's copy of the batch.
    execute: async (sc, ev) => {
      if (env.nodeType === 'branch') await sc.query('SELECT pgferry.capture_ddl_begin($1)', [queue]);
      if (ev.type === DDL_EVENT) {
        const done = await applyDdl(sc, env.name, ev);
        if (done) {
          const what = done.table.handler === 'row' ? done.statements.join('; ') || 'nothing to do' : `columns followed; the tables of handler "${done.table.handler}" are not altered`;
          env.log('info', `${done.table.dest}: followed the provider's DDL (event ${ev.id}, batch ${batchId}): ${what}`);
        }
      } else {
        await applyExecute(sc, env.name, ev);
        env.log('info', `executed ${ev.extra2} (event ${ev.id}, batch ${batchId})`);
      }
      if (env.nodeType === 'branch') await sc.query('SELECT count(*) FROM pgferry.capture_ddl_end($1)', [queue]);
      await loadTables(sc);
    },
    async prepare(sc) {
      const at = await sc.query<AppliedPosition & { pause_tick: string | null; provider_node: string | null }>(sql('lock_applied_tick'), [env.name]);
      if (!at.rows[0]) {
        throw new ReplicationStateError(`subscription "${env.name}" has no position on the subscriber`, {
          hint: 'its leaf was dropped on the subscriber: create it again (create-leaf), or take it out of the worker\'s configuration',
        });
      }
      if (at.rows[0].provider_node !== env.providerNode) return 'moved';
      let position = positionPlan(at.rows[0].at_tick_id, info);
      const otherHistory = position === 'applied' ? await historyDiffers(env, queue, at.rows[0], providerTick) : null;
      if (position === 'applied' && !otherHistory) return position;
      // Paused at a tick (online compare): this batch waits, open, until the pause ends.
      if (at.rows[0].pause_tick !== null && tick > BigInt(at.rows[0].pause_tick)) return 'wait';
      await loadTables(sc);
      if (otherHistory) {
        // Unless every table was copied again since (none depends on the old history; a
        // branch's queue always does), the stream stops here.
        if (tables.size > 0 || env.nodeType === 'branch') throw otherHistory;
        env.log('warn', `${otherHistory.message}; no table depends on it any more: following the provider's history from tick ${info.prevTickId}`);
        position = undefined;
      }
      // Behind the provider's position: replay from the subscriber's own, unless nothing
      // here needs the events in between (every table copied again since; a branch's queue
      // always does).
      if (position && (tables.size > 0 || env.nodeType === 'branch')) return position;
      await checkCaptureDrift(env.provider, queue, tables.keys());
      return { route: (ev) => (ev.extra1 === null ? undefined : tables.get(ev.extra1)) };
    },
    async record(sc, r) {
      if (env.nodeType === 'branch') {
        await copyBatchEvents({ provider: env.provider, subscriber: sc, batchId, queue, fetchSize: env.fetchSize, readTimeoutMs: env.readTimeoutMs });
      }
      // Read now, after the batch's tick: at least every value its events used.
      await forwardSequences(env.provider, sc, env.name);
      await sc.query(sql('record_applied_tick'), [env.name, info.tickId, batchId, r.applied, providerTick.time, providerTick.eventSeq]);
    },
  });
  if (step.outcome === 'moved' || step.outcome === 'rewound') return step.outcome;
  if (step.outcome === 'wait') return undefined;
  // After the commit, so that the tick's snapshot holds the copied events.
  if (env.nodeType === 'branch' && (step.outcome === 'applied' || step.outcome === 'applied-before')) await externalTick(env.subscriber, queue, providerTick);
  if (step.outcome === 'applied-before') env.log('info', `batch ${batchId} (tick ${tick}) was applied already; finished it`);
  return { tickId: info.tickId, batchId, result: step.outcome === 'applied' ? step.result : undefined };
}

interface AppliedPosition {
  at_tick_id: string | null;
  at_tick_time: Date | null;
  at_event_seq: string | null;
}

/**
 * The batch is at or before the subscriber's position, so it counts as applied: only if the
 * provider holds the tick the subscriber applied last, the same one (see tick-identity.ts).
 * Returns the error to raise when it differs.
 */
async function historyDiffers(env: StreamEnv, queue: string, at: AppliedPosition, batchTick: ExternalTick): Promise<ProviderHistoryError | null> {
  if (at.at_tick_id === null) return null;
  return historyError(env.provider, queue, env.name, { tickId: at.at_tick_id, time: at.at_tick_time, eventSeq: at.at_event_seq }, batchTick);
}

/**
 * A branch's queue has the tick of the branch's position: a worker that stopped between a
 * batch's commit and its tick makes it now, before any later batch is copied.
 */
export async function ensureBranchTick(env: StreamEnv, queue: string): Promise<void> {
  const { rows } = await env.subscriber.query<{ at_tick_id: string | null; at_tick_time: Date | null; at_event_seq: string | null }>(sql('applied_tick'), [env.name]);
  const at = rows[0];
  if (!at?.at_tick_id || (await getTick(env.subscriber, queue, at.at_tick_id))) return;
  if (at.at_tick_time === null || at.at_event_seq === null) {
    throw new ReplicationStateError(`branch "${env.name}" is at tick ${at.at_tick_id}, which its queue lacks, and the tick's time is not recorded`);
  }
  await externalTick(env.subscriber, queue, { tickId: at.at_tick_id, time: at.at_tick_time, eventSeq: at.at_event_seq });
  env.log('info', `made tick ${at.at_tick_id} on the branch's queue (the worker had stopped before it)`);
}
