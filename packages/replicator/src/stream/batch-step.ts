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
import { PgferryError, finishBatch, isConnectionError, registerConsumerAt, withClient, withTransaction, type RawEvent } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
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
  | 'moved'
  /** The stream's position is before the batch's start: replay from there (see positionPlan). */
  | { rewind: string };

/** What a stream's recorded position says of a batch (undefined: apply it). */
export function positionPlan(recorded: string | null, batch: { prevTickId: string; tickId: string }): 'applied' | { rewind: string } | undefined {
  if (recorded === null) return undefined;
  if (BigInt(recorded) >= BigInt(batch.tickId)) return 'applied';
  // Normally the provider's consumer is at the stream's position, or one batch behind it
  // (a crash between the subscriber's commit and finish_batch). Behind it, the subscriber
  // lost what it had applied since (restored from a backup, a point-in-time recovery):
  // applying this batch would skip the events in between.
  if (BigInt(recorded) < BigInt(batch.prevTickId)) return { rewind: recorded };
  return undefined;
}

export interface BatchStepOptions extends Omit<BatchApplyOptions, 'subscriber' | 'route'> {
  subscriber: pg.Pool;
  subscription: string;
  /** The provider's queue and the stream's consumer there (a rewind moves it). */
  queue: string;
  consumer: string;
  /** Lock and read the stream's position in the step's transaction, and plan the step. */
  prepare(client: pg.ClientBase): Promise<StepPlan>;
  /** Record the stream's new position, in the step's transaction. */
  record(client: pg.ClientBase, result: BatchApplyResult): Promise<void>;
  /** Log lines (missing rows, handlers). */
  log(level: 'info' | 'warn', message: string): void;
}

export type StepOutcome =
  | { outcome: 'applied'; result: BatchApplyResult }
  | { outcome: 'applied-before' | 'gone' | 'wait' | 'moved' }
  /** The provider's consumer went back to the stream's position `tick`: the events since come again. */
  | { outcome: 'rewound'; tick: string };

export async function applyBatchStep(o: BatchStepOptions): Promise<StepOutcome> {
  const outcome = await withClient(o.subscriber, async (sc): Promise<StepOutcome> => {
    await sc.query('BEGIN');
    try {
      const plan = await o.prepare(sc);
      if (typeof plan === 'string') {
        await sc.query('ROLLBACK');
        return { outcome: plan === 'applied' ? 'applied-before' : plan };
      }
      if ('rewind' in plan) {
        await sc.query('ROLLBACK');
        return { outcome: 'rewound', tick: plan.rewind };
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
  if (outcome.outcome === 'rewound') await rewindConsumer(o, outcome.tick);
  return outcome;
}

/**
 * Move the stream's consumer on the provider back to `tick`, the position the subscriber
 * holds, closing the open batch in the same transaction (nothing of it was applied). When
 * the queue no longer holds the events after that tick nothing moves, and the error says
 * so: the tables must be copied again. Each later batch is checked the same way, so a
 * subscriber behind its provider never skips events silently.
 */
async function rewindConsumer(o: BatchStepOptions, tick: string): Promise<void> {
  try {
    await withTransaction(o.provider, async (pc) => {
      await finishBatch(pc, o.batchId);
      await registerConsumerAt(pc, o.queue, o.consumer, tick);
    });
  } catch (err) {
    if (!(err instanceof PgferryError) || err.code !== 'PF006') throw err;
    throw new ReplicationStateError(
      `subscription "${o.subscription}" is at tick ${tick} on the subscriber, behind its consumer "${o.consumer}" on the provider, ` +
        `and queue "${o.queue}" no longer holds the events after that tick (${err.reason})`,
      {
        hint:
          'the subscriber was restored from a backup older than what the queue keeps: copy its tables again (`pgferry replicate resync`; the stream ' +
          'goes on once no table depends on the lost events), and keep more on the provider (rotation_period × (ntables − 1) covers the backups\' age)',
        cause: err,
      },
    );
  }
  o.log('warn', `the subscriber is at tick ${tick}, behind the provider's position (restored from a backup?): replaying the events after it`);
}

/**
 * finish_batch of a batch whose position the subscriber has recorded, where a batch found
 * finished already (by an earlier attempt whose answer was lost with its connection) is not
 * an error. Committed without waiting for the provider's WAL flush: should a provider crash
 * lose it, the batch comes again and the recorded position says it is applied.
 */
export async function finishAppliedBatch(db: pg.Pool, batchId: string): Promise<void> {
  await finishBatch(db, batchId, { ifOpen: true, asyncCommit: true });
}
