/**
 * A branch's copy of its provider's stream: every event of a batch (of every table, and
 * execute events) into the branch's queue, ids and times kept, in the transaction that
 * applies the batch; then, once that committed, the provider's tick on the branch's queue
 * (its snapshot then holds exactly the copied events: the branch's batch is the
 * provider's). See @pgferry/queue's cascade module.
 */
import type pg from 'pg';
import { copyEvents, streamBatchEvents, withClient } from '@pgferry/queue';

export interface BranchCopyOptions {
  provider: pg.Pool;
  /** The subscriber client, in the batch's apply transaction. */
  subscriber: pg.ClientBase;
  batchId: string;
  queue: string;
  fetchSize: number;
  readTimeoutMs: number;
}

/** Copy the batch's events into the branch's queue (in the caller's transaction). Returns how many. */
export async function copyBatchEvents(o: BranchCopyOptions): Promise<number> {
  // A failed read may leave a cursor open: the provider connection is not reused then. (No
  // transaction of its own: see readBatch.)
  return withClient(
    o.provider,
    async (pc) => {
      let n = 0;
      for await (const chunk of streamBatchEvents(pc, o.batchId, o.fetchSize, { readTimeoutMs: o.readTimeoutMs })) {
        n += await copyEvents(o.subscriber, o.queue, chunk);
      }
      return n;
    },
    { discardOn: () => true },
  );
}

