/**
 * One step of a stream (the main stream, or a table's catch-up): apply a batch in one
 * subscriber transaction that also records the stream's position, commit, then finish the
 * batch on the provider.
 *
 * Exactly once across crashes: a crash before the commit leaves nothing applied and the
 * batch open (it comes again); a crash after it leaves the position recorded, and the next
 * step finds the batch applied already (`prepare` says so) and only finishes it.
 */
import type pg from 'pg';
import { BatchNotFoundError, finishBatch, isConnectionError, withClient, type RawEvent } from '@pgferry/queue';
import { sql } from '../sql.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { applyBatch, type BatchApplyOptions, type BatchApplyResult } from './batch-apply.js';

export type StepPlan =
  /** Apply the batch, routing its events so. */
  | { route: (ev: RawEvent) => SubscribedTable | undefined }
  /** The stream's position is at or past the batch: it was applied before a restart. */
  | 'applied'
  /** The stream has nothing to do with the batch any more (a table that left catch-up). */
  | 'gone'
  /** Not now: the batch stays open and comes again (the stream is paused at a tick). */
  | 'wait'
  /** The node reads from another provider now (change-provider, switchover): the batch is left open. */
  | 'moved';

export interface BatchStepOptions extends Omit<BatchApplyOptions, 'subscriber' | 'route'> {
  subscriber: pg.Pool;
  subscription: string;
  /** Lock and read the stream's position in the step's transaction, and plan the step. */
  prepare(client: pg.ClientBase): Promise<StepPlan>;
  /** Record the stream's new position, in the step's transaction. */
  record(client: pg.ClientBase, result: BatchApplyResult): Promise<void>;
  /** Log lines (missing rows, handlers). */
  log(level: 'info' | 'warn', message: string): void;
}

export type StepOutcome = { outcome: 'applied'; result: BatchApplyResult } | { outcome: 'applied-before' | 'gone' | 'wait' | 'moved' };

export async function applyBatchStep(o: BatchStepOptions): Promise<StepOutcome> {
  const outcome = await withClient(o.subscriber, async (sc): Promise<StepOutcome> => {
    await sc.query('BEGIN');
    try {
      const plan = await o.prepare(sc);
      if (typeof plan === 'string') {
        await sc.query('ROLLBACK');
        return { outcome: plan === 'applied' ? 'applied-before' : plan };
      }
      const result = await applyBatch({ ...o, subscriber: sc, route: plan.route });
      for (const [source, tr] of result.perTable) {
        if (tr.missingUpdates || tr.missingDeletes) {
          await sc.query(sql('count_missing'), [o.subscription, source, tr.missingUpdates, tr.missingDeletes]);
          o.log('warn', `${source}: ${tr.missingUpdates} update(s) and ${tr.missingDeletes} delete(s) found no row (keys ${tr.missingKeys.join(' ')})`);
        }
      }
      await o.record(sc, result);
      await sc.query('COMMIT');
      return { outcome: 'applied', result };
    } catch (err) {
      // A lost connection is destroyed by withClient; a live one must not stay in a transaction.
      if (!isConnectionError(err)) await sc.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
  // A crash here leaves the batch open: the next step finds its position recorded.
  if (outcome.outcome === 'applied' || outcome.outcome === 'applied-before') await finishAppliedBatch(o.provider, o.batchId);
  return outcome;
}

/**
 * finish_batch, where a batch found finished already (by an earlier attempt whose answer
 * was lost with its connection) is not an error: whether finish_batch returns 0 or raises
 * PF005 for it.
 */
export async function finishAppliedBatch(db: pg.Pool, batchId: string): Promise<void> {
  try {
    await finishBatch(db, batchId);
  } catch (err) {
    if (!(err instanceof BatchNotFoundError)) throw err;
  }
}
