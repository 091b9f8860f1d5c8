/**
 * Queue and consumer administration: one function per SQL entry point, typed results.
 */
import { toRawEvent, type EventRow, type RawEvent } from './batch.js';
import { ConsumerNotFoundError } from '@pgferry/sql';
import { q, type Queryable } from './db.js';
import { sql } from './sql.js';

/** Queue settings accepted by setQueueConfig (PGQ's names, without the queue_ prefix). */
export interface QueueConfig {
  ticker_max_count?: number;
  /** Interval, e.g. '3 seconds', or milliseconds. */
  ticker_max_lag?: string | number;
  ticker_idle_period?: string | number;
  ticker_paused?: boolean;
  external_ticker?: boolean;
  rotation_period?: string | number;
  max_retries?: number;
  disable_insert?: boolean;
  /** Number of rotating event tables: can only grow (new tables join at the next wrap). */
  ntables?: number;
}

const intervalKeys = new Set(['ticker_max_lag', 'ticker_idle_period', 'rotation_period']);

/**
 * Create a queue. Returns false if it existed already. With `config`, a refused setting
 * leaves the queue created unless `db` is a client in a transaction (as the CLI does).
 */
export async function createQueue(
  db: Queryable,
  queue: string,
  options: { tables?: number; config?: QueueConfig } = {},
): Promise<boolean> {
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.create_queue($1, $2) AS n', [queue, options.tables ?? 3]);
  if (options.config) await setQueueConfig(db, queue, options.config);
  return rows[0]?.n === 1;
}

/** Drop a queue and its events. Refused while consumers are registered, unless `force`. */
export async function dropQueue(db: Queryable, queue: string, options: { force?: boolean } = {}): Promise<void> {
  await q(db, 'SELECT pgferry.drop_queue($1, $2)', [queue, options.force ?? false]);
}

/**
 * Change queue settings (each key checked by the SQL layer; an unknown key or a value out of
 * its bounds is an error). All settings in one statement: one bad setting changes nothing.
 */
export async function setQueueConfig(db: Queryable, queue: string, config: QueueConfig): Promise<void> {
  const keys: string[] = [];
  const values: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    keys.push(key);
    values.push(intervalKeys.has(key) && typeof value === 'number' ? `${value} milliseconds` : String(value));
  }
  if (keys.length === 0) return;
  await q(db, sql('set_queue_config'), [queue, keys, values]);
}

/** Register a consumer at the queue's latest tick. False if it was registered already. */
export async function registerConsumer(db: Queryable, queue: string, consumer: string): Promise<boolean> {
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.register_consumer($1, $2) AS n', [queue, consumer]);
  return rows[0]?.n === 1;
}

/** Register a consumer at a tick, or move a registered one there (rewind or skip ahead). */
export async function registerConsumerAt(db: Queryable, queue: string, consumer: string, tickId: string): Promise<void> {
  await q(db, 'SELECT pgferry.register_consumer_at($1, $2, $3)', [queue, consumer, tickId]);
}

export async function unregisterConsumer(db: Queryable, queue: string, consumer: string, options: { ifExists?: boolean } = {}): Promise<void> {
  try {
    await q(db, 'SELECT pgferry.unregister_consumer($1, $2)', [queue, consumer]);
  } catch (err) {
    // Gone already: an earlier attempt whose answer was lost, or another process's cleanup.
    if (!(options.ifExists && err instanceof ConsumerNotFoundError)) throw err;
  }
}

export async function registerSubconsumer(db: Queryable, queue: string, consumer: string, sub: string): Promise<boolean> {
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.register_subconsumer($1, $2, $3) AS n', [queue, consumer, sub]);
  return rows[0]?.n === 1;
}

export async function unregisterSubconsumer(db: Queryable, queue: string, consumer: string, sub: string): Promise<void> {
  await q(db, 'SELECT pgferry.unregister_subconsumer($1, $2, $3)', [queue, consumer, sub]);
}

/** Run the ticker rules for one queue (or all). Returns the new tick id(s) count. */
export async function tick(db: Queryable, queue?: string): Promise<number> {
  if (queue) {
    const rows = await q<{ t: string | null }>(db, 'SELECT pgferry.ticker($1) AS t', [queue]);
    return rows[0]?.t ? 1 : 0;
  }
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.ticker() AS n');
  return rows[0]?.n ?? 0;
}

/** Make a tick now, whatever the rules say. Returns its id. */
export async function forceTick(db: Queryable, queue: string): Promise<string> {
  const rows = await q<{ t: string }>(db, 'SELECT pgferry.force_tick($1) AS t', [queue]);
  return rows[0]!.t;
}

/**
 * Ask for a tick soon: made now on a queue that makes its own ticks (its id), or, on a
 * branch's queue, recorded for the branch's worker to pass up to its provider (null).
 */
export async function requestTick(db: Queryable, queue: string): Promise<string | null> {
  const rows = await q<{ t: string | null }>(db, 'SELECT pgferry.request_tick($1) AS t', [queue]);
  return rows[0]!.t;
}

export interface QueueInfo {
  queueName: string;
  ntables: number;
  curTable: number;
  rotationPeriodSeconds: number;
  switchTime: Date;
  tickerMaxCount: number;
  tickerMaxLagSeconds: number;
  tickerIdlePeriodSeconds: number;
  tickerPaused: boolean;
  externalTicker: boolean;
  disableInsert: boolean;
  maxRetries: number;
  /** Seconds since the last tick. (With statusError, figures may be missing: null, 0.) */
  tickerLagSeconds: number;
  lastTickId: string;
  /** Last event id drawn (a counter of events inserted). */
  eventSeq: number;
  /** Events since the last tick. */
  eventsSinceTick: number;
  consumers: number;
  retryPending: number;
  deadLetters: number;
  /**
   * What holds back rotation once the rotation period has passed: the consumer's name, or
   * 'pid N' (a session), 'maintenance', 'ticker' (see rotationBlocker.kind).
   */
  rotationBlockedBy: string | null;
  rotationBlocker: RotationBlocker;
  /** Why some figures of this queue could not be read (a damaged queue), else null. */
  statusError: string | null;
}

/** Kinds of what keeps a queue from rotating (see the SQL function pgferry._rotation_blocker). */
export type RotationBlockerKind =
  | 'not_due'
  | 'snapshot'
  | 'maintenance'
  | 'consumer'
  | 'transaction'
  | 'ticker'
  | 'lock';

export interface RotationBlocker {
  /** null: rotation is due and nothing is in the way. */
  kind: RotationBlockerKind | null;
  /** The session to act on (kinds snapshot, transaction, lock). */
  pid: number | null;
  /** How long it has been in the way (a consumer's lag, a transaction's age), in seconds. */
  ageSeconds: number | null;
  detail: string | null;
  /** What the operator can do about it. */
  hint: string | null;
}

export async function getQueueInfo(db: Queryable, queue?: string): Promise<QueueInfo[]> {
  const rows = await q<Record<string, unknown>>(db, sql('queue_info'), [queue ?? null]);
  return rows.map((r) => ({
    queueName: r.queue_name as string,
    ntables: r.queue_ntables as number,
    curTable: r.queue_cur_table as number,
    rotationPeriodSeconds: r.rotation_s as number,
    switchTime: r.queue_switch_time as Date,
    tickerMaxCount: r.queue_ticker_max_count as number,
    tickerMaxLagSeconds: r.max_lag_s as number,
    tickerIdlePeriodSeconds: r.idle_s as number,
    tickerPaused: r.queue_ticker_paused as boolean,
    externalTicker: r.queue_external_ticker as boolean,
    disableInsert: r.queue_disable_insert as boolean,
    maxRetries: r.queue_max_retries as number,
    tickerLagSeconds: r.ticker_lag_s as number,
    lastTickId: r.last_tick_id as string,
    eventSeq: Number(r.event_seq),
    eventsSinceTick: Number(r.ev_new),
    consumers: r.consumers as number,
    retryPending: Number(r.retry_pending),
    deadLetters: Number(r.dead_letters),
    rotationBlockedBy: (r.rotation_blocked_by as string | null) ?? null,
    rotationBlocker: {
      kind: (r.rotation_blocker_kind as RotationBlockerKind | null) ?? null,
      pid: (r.rotation_blocker_pid as number | null) ?? null,
      ageSeconds: (r.rotation_blocker_age_s as number | null) ?? null,
      detail: (r.rotation_blocker_detail as string | null) ?? null,
      hint: (r.rotation_blocker_hint as string | null) ?? null,
    },
    statusError: (r.status_error as string | null) ?? null,
  }));
}

export interface ConsumerInfo {
  queueName: string;
  consumerName: string;
  /**
   * Seconds between now and the consumer's position tick (PGQ's lag). On a quiet queue it
   * grows between idle ticks even when nothing is pending: see pendingAgeSeconds.
   */
  lagSeconds: number;
  /**
   * How long the oldest event the consumer has yet to consume has been waiting, in seconds;
   * 0 when none is. Counted from the first tick after the consumer's position whose batch
   * holds an event (so at most one tick interval short); events not ticked yet do not count.
   */
  pendingAgeSeconds: number;
  /** Seconds since the consumer last asked for a batch (updated at most every 10 s when idle). */
  lastSeenSeconds: number;
  lastTick: string | null;
  ticksBehind: number;
  /** Events inserted since the consumer's position (an estimate: includes rolled-back ids). */
  pendingEvents: number;
  currentBatch: string | null;
  batchAgeSeconds: number | null;
  isSubconsumer: boolean;
  retryPending: number;
  deadLetters: number;
}

export async function getConsumerInfo(db: Queryable, queue?: string, consumer?: string): Promise<ConsumerInfo[]> {
  const rows = await q<Record<string, unknown>>(db, sql('consumer_info'), [queue ?? null, consumer ?? null]);
  return rows.map((r) => ({
    queueName: r.queue_name as string,
    consumerName: r.consumer_name as string,
    lagSeconds: (r.lag_s as number | null) ?? 0,
    pendingAgeSeconds: (r.pending_age_s as number | null) ?? 0,
    lastSeenSeconds: r.seen_s as number,
    lastTick: (r.last_tick as string | null) ?? null,
    ticksBehind: Number(r.ticks_behind ?? 0),
    pendingEvents: Number(r.pending_events ?? 0),
    currentBatch: (r.current_batch as string | null) ?? null,
    batchAgeSeconds: (r.batch_age_s as number | null) ?? null,
    isSubconsumer: r.is_subconsumer as boolean,
    retryPending: Number(r.retry_pending),
    deadLetters: Number(r.dead_letters),
  }));
}

export interface DeadLetter {
  id: string;
  consumerName: string;
  time: Date;
  reason: string | null;
  eventId: string;
  eventTime: Date;
  retry: number | null;
  type: string | null;
  data: string | null;
}

export async function listDeadLetters(
  db: Queryable,
  queue: string,
  options: { consumer?: string; limit?: number } = {},
): Promise<DeadLetter[]> {
  const rows = await q<Record<string, unknown>>(
    db,
    'SELECT * FROM pgferry.dead_letter_list($1, $2, $3)',
    [queue, options.consumer ?? null, options.limit ?? 100],
  );
  return rows.map((r) => ({
    id: r.dl_id as string,
    consumerName: r.consumer_name as string,
    time: r.dl_time as Date,
    reason: (r.dl_reason as string | null) ?? null,
    eventId: r.ev_id as string,
    eventTime: r.ev_time as Date,
    retry: (r.ev_retry as number | null) ?? null,
    type: (r.ev_type as string | null) ?? null,
    data: (r.ev_data as string | null) ?? null,
  }));
}

/** Send dead letters back to their consumer (all, or the given ids). Returns how many. */
export async function replayDeadLetters(db: Queryable, queue: string, consumer: string, ids?: string[]): Promise<number> {
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.dead_letter_replay($1, $2, $3::bigint[]) AS n', [
    queue,
    consumer,
    ids ?? null,
  ]);
  return rows[0]?.n ?? 0;
}

/** Delete dead letters (of one consumer, or older than an interval). Returns how many. */
export async function purgeDeadLetters(
  db: Queryable,
  queue: string,
  options: { consumer?: string; olderThan?: string } = {},
): Promise<number> {
  const rows = await q<{ n: number }>(db, 'SELECT pgferry.dead_letter_purge($1, $2, $3::interval) AS n', [
    queue,
    options.consumer ?? null,
    options.olderThan ?? null,
  ]);
  return rows[0]?.n ?? 0;
}

// ---------------------------------------------------------------------------------------
// Ticks and events, for operators (the CLI's `consumer rewind` and `events tail`). These
// read pgferry's tables directly: they need the pgferry_admin role (or the owner).

export interface TickRow {
  tickId: string;
  time: Date;
  /** The queue's event-id counter when the tick was taken. */
  eventSeq: number;
  /** The queue still holds the events after this tick: a consumer can start here. */
  available: boolean;
}

function toTickRow(r: Record<string, unknown>): TickRow {
  return {
    tickId: r.tick_id as string,
    time: r.tick_time as Date,
    eventSeq: Number(r.tick_event_seq),
    available: r.available as boolean,
  };
}

/** A queue's ticks, newest first (`limit`, default 20; `before`: only ticks older than that id). */
export async function listTicks(
  db: Queryable,
  queue: string,
  options: { limit?: number; before?: string; after?: string } = {},
): Promise<TickRow[]> {
  const rows = await q<Record<string, unknown>>(db, sql('ticks'), [
    queue,
    options.before ?? null,
    options.after ?? null,
    options.limit ?? 20,
  ]);
  return rows.map(toTickRow);
}

/** The latest tick taken at or before `time`, or null when the queue has none that old. */
export async function findTickAt(db: Queryable, queue: string, time: Date): Promise<TickRow | null> {
  const rows = await q<Record<string, unknown>>(db, sql('tick_at'), [queue, time]);
  return rows[0] ? toTickRow(rows[0]) : null;
}

/** The oldest tick a consumer can still start from (null if none). */
export async function oldestAvailableTick(db: Queryable, queue: string): Promise<TickRow | null> {
  const rows = await q<Record<string, unknown>>(db, sql('oldest_available_tick'), [queue]);
  return rows[0] ? toTickRow(rows[0]) : null;
}

/**
 * Events a batch from tick `fromTick` to tick `toTick` would hold (producers' events only,
 * not retried copies), in ev_id order, at most `limit`. Read-only: no batch is opened. The
 * ev_txid bounds (the older snapshot's xmin, the newer one's xmax) let the index serve it.
 */
export async function getEventsBetweenTicks(
  db: Queryable,
  queue: string,
  fromTick: string,
  toTick: string,
  options: { limit?: number } = {},
): Promise<RawEvent[]> {
  const rows = await q<EventRow>(db, sql('events_between_ticks'), [queue, fromTick, toTick, options.limit ?? 1000]);
  return rows.map(toRawEvent);
}

/** The last `limit` events of a queue visible at tick `atTick` (producers' events), oldest first. */
export async function getLatestEvents(
  db: Queryable,
  queue: string,
  atTick: string,
  options: { limit?: number } = {},
): Promise<RawEvent[]> {
  const rows = await q<EventRow>(db, sql('latest_events'), [queue, atTick, options.limit ?? 20]);
  return rows.map(toRawEvent);
}
