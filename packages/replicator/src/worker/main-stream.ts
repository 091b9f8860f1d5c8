/**
 * The main stream of a subscription: one batch per step, applied for every table in state
 * 'ok' (whose sync tick, if any, is before the batch's tick), the batch's tick recorded as
 * the subscription's position in the same subscriber transaction.
 */
import type pg from 'pg';
import { getBatchInfo, nextBatch } from '@pgferry/queue';
import { applyExecute } from '../stream/execute.js';
import { ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import { applyBatchStep } from '../stream/batch-step.js';
import type { BatchApplyResult } from '../stream/batch-apply.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';
import { applySettings, type StreamEnv } from './stream-env.js';

export interface MainStepResult {
  tickId: string;
  batchId: string;
  /** Undefined when the batch had been applied before a restart (it was only finished). */
  result?: BatchApplyResult;
}

/** Apply the next batch of the main stream; undefined when there was none. */
export async function mainStep(env: StreamEnv, queue: string): Promise<MainStepResult | undefined> {
  const batchId = await nextBatch(env.provider, queue, env.name);
  if (!batchId) return undefined;
  const info = await getBatchInfo(env.provider, batchId);
  const tick = BigInt(info.tickId);
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
    // DDL from the provider, at its point of the batch; the tables' columns change with it.
    execute: async (sc, ev) => {
      await applyExecute(sc, env.name, ev);
      env.log('info', `executed ${ev.extra2} (event ${ev.id}, batch ${batchId})`);
      await loadTables(sc);
    },
    async prepare(sc) {
      const at = await sc.query<{ at_tick_id: string | null; pause_tick: string | null }>(sql('lock_applied_tick'), [env.name]);
      if (!at.rows[0]) {
        throw new ReplicationStateError(`subscription "${env.name}" has no position on the subscriber`, {
          hint: 'its leaf was dropped on the subscriber: create it again (create-leaf), or take it out of the worker\'s configuration',
        });
      }
      const recorded = at.rows[0].at_tick_id;
      if (recorded !== null && BigInt(recorded) >= tick) return 'applied';
      // Paused at a tick (online compare): this batch waits, open, until the pause ends.
      if (at.rows[0].pause_tick !== null && tick > BigInt(at.rows[0].pause_tick)) return 'wait';
      await loadTables(sc);
      return { route: (ev) => (ev.extra1 === null ? undefined : tables.get(ev.extra1)) };
    },
    async record(sc, r) {
      await sc.query(sql('record_applied_tick'), [env.name, info.tickId, batchId, r.applied]);
    },
  });
  if (step.outcome === 'wait') return undefined;
  if (step.outcome === 'applied-before') env.log('info', `batch ${batchId} (tick ${tick}) was applied already; finished it`);
  return { tickId: info.tickId, batchId, result: step.outcome === 'applied' ? step.result : undefined };
}
