/**
 * Cascading: what a node of a replication cascade needs from the queue. A branch's queue
 * carries its provider's events and ticks (same event ids, same tick ids, so the same
 * batches), written by the replicator: copyEvents in the transaction that applies a batch,
 * externalTick right after it commits. A root that hands its role over stops its writers
 * and makes a last tick (closeQueue). See packages/sql: insert_events_raw, tick_external,
 * branch_queue_start.
 */
import type pg from 'pg';
import { q, type Queryable } from './db.js';
import type { RawEvent } from './batch.js';
import { setQueueConfig } from './admin.js';
import { Backoff, sleep } from './runtime/index.js';
import { sql } from './sql.js';

/** A tick as a branch copies it: the provider's id, time and event counter. */
export interface ExternalTick {
  tickId: string;
  time: Date;
  eventSeq: string;
}

/** Make a new queue a branch's copy of its provider's queue, starting at the provider's tick `start`. */
export async function startBranchQueue(db: Queryable, queue: string, start: ExternalTick): Promise<void> {
  await q(db, 'SELECT pgferry.branch_queue_start($1, $2, $3, $4)', [queue, start.tickId, start.time, start.eventSeq]);
}

/**
 * Copy a provider's events into a branch's queue, ids and times kept, in the caller's
 * transaction (the one that applies them). Returns the number copied.
 */
export async function copyEvents(db: Queryable, queue: string, events: RawEvent[]): Promise<number> {
  if (!events.length) return 0;
  const rows = await q<{ n: string }>(db, 'SELECT pgferry.insert_events_raw($1, $2, $3, $4, $5, $6, $7, $8, $9) AS n', [
    queue,
    events.map((e) => e.id),
    events.map((e) => e.time),
    events.map((e) => e.type),
    events.map((e) => e.data),
    events.map((e) => e.extra1),
    events.map((e) => e.extra2),
    events.map((e) => e.extra3),
    events.map((e) => e.extra4),
  ]);
  return Number(rows[0]!.n);
}

/** Make the provider's tick on a branch's queue (in its own transaction, after the copy committed). Idempotent. */
export async function externalTick(db: Queryable, queue: string, tick: ExternalTick): Promise<void> {
  await q(db, 'SELECT pgferry.tick_external($1, $2, $3, $4)', [queue, tick.tickId, tick.time, tick.eventSeq]);
}

type TickRow = { tick_id: string; tick_time: Date; tick_event_seq: string };
const toTick = (r: TickRow): ExternalTick => ({ tickId: r.tick_id, time: r.tick_time, eventSeq: r.tick_event_seq });

/** The newest tick of a queue. */
export async function lastTick(db: Queryable, queue: string): Promise<ExternalTick> {
  return toTick((await q<TickRow>(db, sql('last_tick'), [queue]))[0]!);
}

/** Tick `tickId` of a queue, or null when it is gone. */
export async function getTick(db: Queryable, queue: string, tickId: string): Promise<ExternalTick | null> {
  const r = (await q<TickRow>(db, sql('tick_row'), [queue, tickId]))[0];
  return r ? toTick(r) : null;
}

/** A transaction that could still write events into a closed queue. */
export interface RunningWriter {
  txid: string;
  pid: number | null;
  applicationName: string | null;
  xactStart: Date | null;
}

export class WritersStillRunningError extends Error {
  constructor(
    readonly queue: string,
    readonly writers: RunningWriter[],
  ) {
    const who = writers
      .slice(0, 5)
      .map((w) => `txid ${w.txid}${w.pid ? ` (pid ${w.pid}${w.applicationName ? `, ${w.applicationName}` : ''})` : ''}`)
      .join(', ');
    super(`queue "${queue}" is closed, but ${writers.length} transaction(s) that began before may still write into it: ${who}`);
    this.name = 'WritersStillRunningError';
  }
}

/**
 * Close a queue to new events and make its last tick: inserts disabled, then, once every
 * transaction that was running when they were disabled has ended (one begun before may
 * still write events; one begun after cannot), a tick that holds them all, after which the
 * queue takes its ticks from outside (pgferry.close_tick). Returns that tick. A writer
 * still running after `timeoutMs` raises WritersStillRunningError (the queue stays closed
 * to inserts: reopen it with openQueue to give up).
 */
export async function closeQueue(db: pg.Pool, queue: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExternalTick> {
  await setQueueConfig(db, queue, { disable_insert: true });
  const s = (await q<{ s: string }>(db, 'SELECT pg_catalog.pg_current_snapshot()::text AS s'))[0]!.s;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const backoff = new Backoff({ minMs: 5, maxMs: 200 });
  for (;;) {
    const running = await q<{ txid: string; pid: number | null; application_name: string | null; xact_start: Date | null }>(db, sql('writers_running'), [s]);
    if (!running.length) break;
    if (Date.now() > deadline) {
      throw new WritersStillRunningError(
        queue,
        running.map((r) => ({ txid: r.txid, pid: r.pid, applicationName: r.application_name, xactStart: r.xact_start })),
      );
    }
    await sleep(backoff.next(), options.signal);
  }
  const t = (await q<{ t: string }>(db, 'SELECT pgferry.close_tick($1)::text AS t', [queue]))[0]!.t;
  return (await getTick(db, queue, t))!;
}

/** Open a queue to its own writers and ticker again (a promoted branch, a switchover given up). */
export async function openQueue(db: Queryable, queue: string): Promise<void> {
  await setQueueConfig(db, queue, { external_ticker: false, disable_insert: false });
}
