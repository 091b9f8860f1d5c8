/**
 * Low-level batch operations: one function per SQL entry point. The Consumer builds on
 * these; the replicator uses them directly (its apply transaction is on another database).
 */
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { BatchNotFoundError, PgferryError } from '@pgferry/sql';
import { q, type Queryable } from './db.js';
import { untilLost } from './runtime/index.js';
import { RAW_TYPES, TextRowEvent, type EventTextRow } from './event-row.js';
import { sql } from './sql.js';

/** An event as stored in the queue. Ids are strings (PostgreSQL bigint). */
export interface RawEvent {
  id: string;
  time: Date;
  txid: string;
  /** How many times the event was retried before (null for a first delivery). */
  retry: number | null;
  type: string | null;
  data: string | null;
  extra1: string | null;
  extra2: string | null;
  extra3: string | null;
  extra4: string | null;
}

/** An event row as the batch SQL returns it. */
export interface EventRow {
  ev_id: string;
  ev_time: Date;
  ev_txid: string;
  ev_retry: number | null;
  ev_type: string | null;
  ev_data: string | null;
  ev_extra1: string | null;
  ev_extra2: string | null;
  ev_extra3: string | null;
  ev_extra4: string | null;
}

export function toRawEvent(r: EventRow): RawEvent {
  return {
    id: r.ev_id,
    time: r.ev_time,
    txid: r.ev_txid,
    retry: r.ev_retry,
    type: r.ev_type,
    data: r.ev_data,
    extra1: r.ev_extra1,
    extra2: r.ev_extra2,
    extra3: r.ev_extra3,
    extra4: r.ev_extra4,
  };
}

export interface PositionCommitOptions {
  /**
   * Commit without waiting for the WAL flush (`synchronous_commit = off` for this call's own
   * transaction): a server crash may then lose the position's move, and the batch comes
   * again. Only for a consumer that records its own position where it applies (the
   * replication worker: its subscriber's applied tick says the batch is done), and only for
   * a call in its own transaction, not inside one of the caller's.
   */
  asyncCommit?: boolean;
}

/** The statement of a position call, committed without the flush when `asyncCommit`. */
function positionSql(call: string, options: PositionCommitOptions): string {
  return options.asyncCommit ? `SELECT ${call} FROM pg_catalog.set_config('synchronous_commit', 'off', true) AS sc` : `SELECT ${call}`;
}

/**
 * The consumer's open batch, or a new one up to the next tick; null when there is no new
 * tick. With `subconsumer`, the cooperative form (`deadIntervalMs`: take over the batch of
 * a sub-consumer silent that long).
 */
export async function nextBatch(
  db: Queryable,
  queue: string,
  consumer: string,
  coop?: { subconsumer: string; deadIntervalMs?: number },
  options: PositionCommitOptions = {},
): Promise<string | null> {
  const rows = coop
    ? await q<{ b: string | null }>(db, positionSql('pgferry.next_batch($1, $2, $3, $4::interval) AS b', options), [
        queue,
        consumer,
        coop.subconsumer,
        coop.deadIntervalMs === undefined ? null : `${coop.deadIntervalMs} milliseconds`,
      ])
    : await q<{ b: string | null }>(db, positionSql('pgferry.next_batch($1, $2) AS b', options), [queue, consumer]);
  return rows[0]?.b ?? null;
}

export interface FinishBatchOptions extends PositionCommitOptions {
  /**
   * A batch that is not open (finished already, or taken over by another sub-consumer)
   * returns false instead of throwing. For a caller that may have closed it already (a
   * retry after a lost connection) and runs it on its own: in a transaction the error has
   * aborted the transaction all the same.
   */
  ifOpen?: boolean;
}

/**
 * Close a batch; true when it closed. A batch that is not open throws BatchNotFoundError
 * (PF005), unless `ifOpen`: work done for it in the same transaction must not commit.
 */
export async function finishBatch(db: Queryable, batchId: string, options: FinishBatchOptions = {}): Promise<boolean> {
  try {
    await q(db, positionSql('pgferry.finish_batch($1)', options), [batchId]);
    return true;
  } catch (err) {
    if (options.ifOpen && err instanceof BatchNotFoundError) return false;
    throw err;
  }
}

/**
 * Finish batch `batchId` and COMMIT the transaction it is read in, in one round trip. On an
 * error nothing is committed: the caller rolls back.
 */
export async function finishBatchAndCommit(db: Queryable, batchId: string): Promise<void> {
  if (!/^[0-9]+$/.test(batchId)) throw new PgferryError(`not a batch id: ${JSON.stringify(batchId)}`);
  await q(db, `SELECT pgferry.finish_batch(${batchId}); COMMIT`);
}

export interface BatchInfo {
  queueName: string;
  consumerName: string;
  batchStart: Date;
  batchEnd: Date;
  prevTickId: string;
  tickId: string;
  /** Seconds since the batch's end tick. */
  lagSeconds: number;
  /** Event ids drawn between the two ticks (an upper bound of the batch size). */
  estimatedEvents: number;
  /** The queue's event id counter at the end tick (a branch copies it with the tick). */
  seqEnd: string;
}

export async function getBatchInfo(db: Queryable, batchId: string): Promise<BatchInfo> {
  const rows = await q<{
    queue_name: string;
    consumer_name: string;
    batch_start: Date;
    batch_end: Date;
    prev_tick_id: string;
    tick_id: string;
    lag_s: number;
    estimated_events: string;
    seq_end: string;
  }>(db, sql('batch_info'), [batchId]);
  const r = rows[0]!;
  return {
    queueName: r.queue_name,
    consumerName: r.consumer_name,
    batchStart: r.batch_start,
    batchEnd: r.batch_end,
    prevTickId: r.prev_tick_id,
    tickId: r.tick_id,
    lagSeconds: r.lag_s,
    estimatedEvents: Number(r.estimated_events),
    seqEnd: r.seq_end,
  };
}

export interface StreamBatchOptions {
  /**
   * Longest wait for one fetch (ms): past it the connection is closed and the read fails
   * with a connection error (a stalled or half-open connection answers nothing). Default:
   * no bound but the connection's own ('error'/'end' always end the wait).
   */
  readTimeoutMs?: number;
}

/**
 * Stream a batch's events in ev_id order, `fetchSize` rows at a time, through a
 * client-side cursor: memory stays bounded whatever the batch size. Inside a transaction on
 * `client`, or on its own: the cursor's portal lives in the protocol's implicit transaction
 * until the read ends or stops. A lost connection fails the read (pg-cursor alone would wait
 * forever for a ReadyForQuery that never comes).
 */
export async function* streamBatchEvents(
  client: pg.ClientBase,
  batchId: string,
  fetchSize = 1000,
  options: StreamBatchOptions = {},
): AsyncGenerator<RawEvent[]> {
  const bound = <T>(work: Promise<T>, what: string) => untilLost(client, work, options.readTimeoutMs, what);
  const rows = await bound(q<{ sql: string }>(client, 'SELECT pgferry.batch_event_sql($1) AS sql', [batchId]), 'batch_event_sql');
  const cursor = client.query(new Cursor<EventTextRow>(rows[0]!.sql, undefined, { rowMode: 'array', types: RAW_TYPES }));
  // After a failed read the cursor has no portal left to close (the error ended it, or the
  // connection is gone), and its close() would wait forever.
  let failed = false;
  const read = () => {
    const p = bound(cursor.read(fetchSize), 'the batch read');
    p.catch(() => {
      failed = true;
    });
    return p;
  };
  // The next rows are asked for before these are yielded: the provider reads them while the
  // caller works on these.
  let pending: Promise<EventTextRow[]> | undefined = read();
  try {
    for (;;) {
      const chunk: EventTextRow[] = await pending;
      pending = chunk.length === fetchSize ? read() : undefined;
      if (chunk.length > 0) yield chunk.map((r) => new TextRowEvent(r));
      if (!pending) return;
    }
  } finally {
    // A read still in flight (the caller stopped early) ends before the cursor is closed.
    if (pending) await pending.catch(() => undefined);
    if (!failed) await bound(cursor.close(), 'the cursor close').catch(() => undefined);
  }
}

/** All of a batch's events at once (small batches). */
export async function getBatchEvents(db: Queryable, batchId: string): Promise<RawEvent[]> {
  const rows = await q<EventRow>(db, 'SELECT * FROM pgferry.get_batch_events($1)', [batchId]);
  return rows.map(toRawEvent);
}

/**
 * Hand events of an open batch back to the consumer, to come again after `delayMs`
 * (dead-lettered after max_retries). Call it in the batch's transaction. Returns how many.
 */
export async function retryEvents(db: Queryable, batchId: string, eventIds: string[], delayMs: number): Promise<number> {
  if (eventIds.length === 0) return 0;
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.event_retry($1, $2::bigint[], $3::interval) AS n', [
    batchId,
    eventIds,
    `${Math.max(0, Math.round(delayMs))} milliseconds`,
  ]);
  return rows[0]?.n ?? 0;
}

/** Move events of an open batch straight to the dead-letter table. Returns how many. */
export async function deadLetterEvents(db: Queryable, batchId: string, eventIds: string[], reason: string): Promise<number> {
  if (eventIds.length === 0) return 0;
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.event_dead($1, $2::bigint[], $3) AS n', [
    batchId,
    eventIds,
    reason,
  ]);
  return rows[0]?.n ?? 0;
}
