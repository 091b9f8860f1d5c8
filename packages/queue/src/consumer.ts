/**
 * Consumer: takes batches of a queue and processes them in transactions.
 *
 *   for await (const batch of consumer.batches({ signal })) {
 *     for await (const ev of batch.events()) { ... batch.retry(ev, 5000) ... }
 *     await batch.finish();
 *   }
 *
 * or `consumer.run(async (batch) => ...)`, which finishes each batch in the transaction
 * the handler wrote in (`batch.client`): exactly-once effects in the same database.
 *
 * Events are read through a server-side cursor, `fetchSize` at a time, so a batch of any
 * size is processed in bounded memory and the handler can query `batch.client` between
 * events. A batch that is not finished is rolled back and comes again, whole.
 */
import createDebug from 'debug';
import type pg from 'pg';
import type { z } from 'zod';
import { BatchNotFoundError, PgferryError } from '@pgferry/sql';
import { deadLetterEvents, finishBatchAndCommit, nextBatch, retryEvents, type RawEvent } from './batch.js';
import { RAW_TYPES, TextRowEvent, type EventTextRow } from './event-row.js';
import { registerConsumer, registerSubconsumer } from './admin.js';
import { q } from './db.js';
import { Backoff, isConnectionError, sleep, untilLost } from './runtime/index.js';
import { decodePayload, EventValidationError, validatePayload, type EventSchemas } from './events.js';
import { TickListener } from './tick-listener.js';

const debug = createDebug('pgferry:consumer');

/** A delivered event with its decoded (and, with schemas, validated) payload. */
export interface QueueEvent<T = unknown> extends RawEvent {
  payload: T;
}

/** Union of typed events for a schema map (discriminated by `type`). */
export type EventOf<S extends EventSchemas> = string extends keyof S
  ? QueueEvent<unknown>
  : { [K in keyof S & string]: QueueEvent<z.output<S[K]>> & { type: K } }[keyof S & string];

/** A delivered event: its row's text, the payload decoded by the consumer. */
class DeliveredEvent extends TextRowEvent implements QueueEvent {
  payload: unknown = undefined;

  override toJSON(): QueueEvent {
    return { ...super.toJSON(), payload: this.payload };
  }
}

/** The batch could not be finished: another sub-consumer took it over (PF005). Its work was rolled back. */
export class BatchLostError extends BatchNotFoundError {
  override name = 'BatchLostError';
}

export interface ConsumerOptions<S extends EventSchemas> {
  queue: string;
  /** Consumer name (registered on first use unless `register: false`). */
  name: string;
  schemas?: S;
  /** Events fetched per round trip. Default 1000. */
  fetchSize?: number;
  /** Poll interval when no tick notification arrives (ms). Default 1000. */
  pollIntervalMs?: number;
  /**
   * Longest wait for the answer to one of the consumer's own queries (next_batch, FETCH,
   * finish_batch, COMMIT, ROLLBACK; not the handler's), in ms: past it the connection is
   * closed and the batch comes again (a stalled or half-open connection answers nothing and
   * reports nothing). Default: no bound but the connection's own.
   */
  queryTimeoutMs?: number;
  /** Wake on NOTIFY pgferry_tick (needs one extra connection). Default true. */
  listen?: boolean;
  /** Register the consumer if needed. Default true. */
  register?: boolean;
  /** Cooperative consumption: this process is sub-consumer `subconsumer` of `name`. */
  subconsumer?: string;
  /** Take over batches of sub-consumers silent this long (ms). */
  deadIntervalMs?: number;
  /** Events whose payload fails decoding or validation: dead-letter (default) or retry. */
  invalidEvents?: 'dead-letter' | 'retry';
  /** Delay for retries of invalid events (ms). Default 60000. */
  invalidRetryDelayMs?: number;
}

export interface RunOptions {
  /** Stop (gracefully, after the current batch) when this aborts. */
  signal?: AbortSignal;
  /**
   * Return once there is no batch to take (cron-style workers: drain what has been ticked,
   * then exit). Tick first (forceTick) to include everything committed so far.
   */
  untilIdle?: boolean;
}

export interface ConsumerStats {
  batches: number;
  events: number;
  retries: number;
  deadLetters: number;
  invalidEvents: number;
  reconnects: number;
  lastBatchMs: number;
}

export interface BatchResult {
  batchId: string;
  events: number;
  retries: number;
  deadLetters: number;
  durationMs: number;
}

/** One open batch, in a transaction on `client` until finish() or abandon(). */
export class Batch<S extends EventSchemas = EventSchemas> {
  private retries = new Map<number, string[]>();
  private dead = new Map<string, string[]>();
  private cursorOpen = false;
  private done = false;
  private seen = 0;
  private readonly started = Date.now();

  // A checked-out pool client has no 'error' listener: without ours, a connection lost
  // between queries would be an uncaught exception. The next query reports it instead.
  private readonly onClientError = (err: Error) => debug('batch %s: connection error: %s', this.id, err.message);

  constructor(
    readonly id: string,
    /** The batch's transaction: write here for exactly-once effects in the same database. */
    readonly client: pg.PoolClient,
    private readonly consumer: Consumer<S>,
  ) {
    client.on('error', this.onClientError);
  }

  /** One of the batch's own statements, bounded (see ConsumerOptions.queryTimeoutMs). */
  private bound<T>(work: Promise<T>, what: string): Promise<T> {
    return untilLost(this.client, work, this.consumer.queryTimeoutMs, what);
  }

  /** Stream the batch's events in ev_id order (each batch can be read once). */
  async *events(): AsyncGenerator<EventOf<S>> {
    if (this.cursorOpen) throw new PgferryError(`batch ${this.id}: events() can be read only once`);
    this.cursorOpen = true;
    const cursor = `pgferry_batch_${this.id}`;
    // Rows as arrays of text: only what the handler reads is parsed (ev_time on first read).
    const fetch = { text: `FETCH FORWARD ${this.consumer.fetchSize} FROM ${cursor}`, rowMode: 'array', types: RAW_TYPES };
    await this.bound(q(this.client, 'SELECT pgferry.get_batch_cursor($1, $2)', [this.id, cursor]), 'get_batch_cursor');
    // The next rows are asked for before these are handed out: the server reads them while
    // the handler works (a query of the handler's on batch.client waits for that FETCH).
    const next = () => {
      const read = this.bound(this.client.query<EventTextRow>(fetch), 'FETCH');
      read.catch(() => undefined); // awaited below, or the batch is abandoned anyway
      return read;
    };
    let pending = next();
    for (;;) {
      const { rows } = await pending;
      const more = rows.length === this.consumer.fetchSize;
      if (more) pending = next();
      for (const r of rows) {
        const ev = this.decode(r);
        if (ev) yield ev;
      }
      if (!more) break;
    }
    // The cursor stays open until the batch's COMMIT or ROLLBACK closes it (a round trip less).
  }

  private decode(r: EventTextRow): EventOf<S> | undefined {
    this.seen++;
    const raw = new DeliveredEvent(r);
    try {
      const type = raw.type ?? '';
      raw.payload = validatePayload(this.consumer.schemas, type, decodePayload(type, raw.data));
      return raw as unknown as EventOf<S>;
    } catch (err) {
      if (!(err instanceof EventValidationError)) throw err;
      this.consumer.stats.invalidEvents++;
      debug('batch %s: event %s is invalid: %s', this.id, raw.id, err.message);
      if (this.consumer.invalidEvents === 'retry') this.retry(raw, this.consumer.invalidRetryDelayMs);
      else this.deadLetter(raw, err.message);
      return undefined;
    }
  }

  /** Hand the event back: it comes again to this consumer after `delayMs` (applied at finish). */
  retry(event: Pick<RawEvent, 'id'>, delayMs = 5000): void {
    const list = this.retries.get(delayMs) ?? [];
    list.push(event.id);
    this.retries.set(delayMs, list);
  }

  /** Give up on the event: it goes to the dead-letter table with `reason` (applied at finish). */
  deadLetter(event: Pick<RawEvent, 'id'>, reason: string): void {
    const list = this.dead.get(reason) ?? [];
    list.push(event.id);
    this.dead.set(reason, list);
  }

  /** Apply retries and dead letters, close the batch and COMMIT. */
  async finish(): Promise<BatchResult> {
    if (this.done) throw new PgferryError(`batch ${this.id} is already closed`);
    this.done = true;
    let retried = 0;
    let dead = 0;
    try {
      try {
        for (const [delay, ids] of this.retries) retried += await this.bound(retryEvents(this.client, this.id, ids, delay), 'event_retry');
        for (const [reason, ids] of this.dead) dead += await this.bound(deadLetterEvents(this.client, this.id, ids, reason), 'event_dead');
        // finish_batch and COMMIT in one round trip (a simple query: the id is a bigint the
        // server gave; on an error the COMMIT does not run and the batch rolls back below).
        await this.bound(finishBatchAndCommit(this.client, this.id), 'finish_batch, COMMIT');
      } catch (err) {
        if (!(err instanceof BatchNotFoundError)) throw err;
        throw new BatchLostError(`batch ${this.id} was taken over by another sub-consumer; its work is rolled back`, {
          code: err.code,
          cause: err,
        });
      }
    } catch (err) {
      await this.rollback(err);
      throw err;
    }
    this.release();
    const result = { batchId: this.id, events: this.seen, retries: retried, deadLetters: dead, durationMs: Date.now() - this.started };
    this.consumer.recordBatch(result);
    return result;
  }

  /** Roll back: nothing of this batch's transaction stays, and the batch comes again. */
  async abandon(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.rollback();
  }

  private async rollback(err?: unknown): Promise<void> {
    const broken = err !== undefined && isConnectionError(err);
    let lost = broken;
    if (!broken) await this.bound(this.client.query('ROLLBACK'), 'ROLLBACK').catch((e: unknown) => (lost = isConnectionError(e)));
    this.release(lost ? new Error('connection lost') : undefined);
  }

  private released = false;
  private release(err?: Error): void {
    if (this.released) return;
    this.released = true;
    this.client.off('error', this.onClientError);
    this.client.release(err);
  }
}

export class Consumer<S extends EventSchemas = EventSchemas> {
  readonly queue: string;
  readonly name: string;
  readonly schemas: S | undefined;
  readonly fetchSize: number;
  readonly invalidEvents: 'dead-letter' | 'retry';
  readonly invalidRetryDelayMs: number;
  readonly queryTimeoutMs: number | undefined;
  readonly stats: ConsumerStats = {
    batches: 0,
    events: 0,
    retries: 0,
    deadLetters: 0,
    invalidEvents: 0,
    reconnects: 0,
    lastBatchMs: 0,
  };
  /** Called after each finished batch (metrics hook). */
  onBatch: ((result: BatchResult) => void) | undefined;
  private readonly listener: TickListener | undefined;
  private registered = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: ConsumerOptions<S>,
  ) {
    this.queue = options.queue;
    this.name = options.name;
    this.schemas = options.schemas;
    this.fetchSize = options.fetchSize ?? 1000;
    this.invalidEvents = options.invalidEvents ?? 'dead-letter';
    this.invalidRetryDelayMs = options.invalidRetryDelayMs ?? 60_000;
    this.queryTimeoutMs = options.queryTimeoutMs;
    if (options.listen !== false) this.listener = new TickListener((pool as pg.Pool & { options: pg.ClientConfig }).options);
  }

  /** @internal */
  recordBatch(r: BatchResult): void {
    this.stats.batches++;
    this.stats.events += r.events;
    this.stats.retries += r.retries;
    this.stats.deadLetters += r.deadLetters;
    this.stats.lastBatchMs = r.durationMs;
    this.onBatch?.(r);
  }

  private async ensureRegistered(): Promise<void> {
    if (this.registered || this.options.register === false) return;
    if (this.options.subconsumer) {
      await registerSubconsumer(this.pool, this.queue, this.name, this.options.subconsumer);
    } else {
      await registerConsumer(this.pool, this.queue, this.name);
    }
    this.registered = true;
  }

  /**
   * Open batches one after another until `signal` aborts. Each batch must be finished
   * (or abandoned) before the next is taken. Connection failures while waiting for a batch
   * are retried with backoff; the open batch then comes again.
   */
  async *batches(options: RunOptions = {}): AsyncGenerator<Batch<S>> {
    const { signal } = options;
    const backoff = new Backoff({ minMs: 100, maxMs: 10_000 });
    while (!signal?.aborted) {
      let batch: Batch<S> | undefined;
      try {
        await this.ensureRegistered();
        batch = await this.openBatch();
        backoff.reset();
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        this.stats.reconnects++;
        const wait = backoff.next();
        debug('%s/%s: connection failed (%s), retrying in %d ms', this.queue, this.name, (err as Error).message, wait);
        await sleep(wait, signal);
        continue;
      }
      if (!batch) {
        if (options.untilIdle) return;
        await (this.listener?.wait(this.queue, this.options.pollIntervalMs ?? 1000, signal) ??
          sleep(this.options.pollIntervalMs ?? 1000, signal));
        continue;
      }
      try {
        yield batch;
      } finally {
        await batch.abandon();
      }
    }
  }

  /**
   * Process batches with `handler` until `signal` aborts: the batch is finished in the
   * handler's transaction (batch.client). A connection failure rolls the batch back and it
   * is processed again after reconnecting; a handler error rolls it back and is thrown.
   */
  async run(handler: (batch: Batch<S>) => Promise<void>, options: RunOptions = {}): Promise<void> {
    const backoff = new Backoff({ minMs: 100, maxMs: 10_000 });
    while (!options.signal?.aborted) {
      try {
        for await (const batch of this.batches(options)) {
          await handler(batch);
          await batch.finish();
          backoff.reset();
        }
        if (options.untilIdle) return;
      } catch (err) {
        // serialization_failure: the batch's transaction began before a rotation of the
        // metadata partitions it reads (see migration 006); rolled back, it comes again.
        const retry = (err as { code?: string } | null)?.code === '40001';
        if (!retry && !isConnectionError(err)) throw err;
        if (!retry) this.stats.reconnects++;
        debug('%s/%s: %s during a batch (%s); it comes again', this.queue, this.name,
          retry ? 'serialization failure' : 'connection lost', (err as Error).message);
        await sleep(backoff.next(), options.signal);
      }
    }
  }

  private async openBatch(): Promise<Batch<S> | undefined> {
    const client = await this.pool.connect();
    const onError = (err: Error) => debug('%s/%s: connection error: %s', this.queue, this.name, err.message);
    client.on('error', onError);
    try {
      // The batch is assigned in its own transaction (as in PGQ): it stays this consumer's
      // open batch, under the same id, until finished, whatever happens to the processing
      // transaction; and a cooperative consumer's position moves on for its siblings at once.
      // It commits without waiting for the WAL flush: the batch's own commit, flushed, covers
      // it (the log is flushed in order); a crash before that loses the assignment with the
      // batch's work, and the same events come again in a batch of a new id, as they would
      // after a crash with the batch open.
      const bound = <T>(work: Promise<T>, what: string) => untilLost(client, work, this.queryTimeoutMs, what);
      const id = await bound(nextBatch(
        client,
        this.queue,
        this.name,
        this.options.subconsumer
          ? { subconsumer: this.options.subconsumer, deadIntervalMs: this.options.deadIntervalMs }
          : undefined,
        { asyncCommit: true },
      ), 'next_batch');
      if (id) await bound(client.query('BEGIN'), 'BEGIN');
      client.off('error', onError);
      if (!id) {
        client.release();
        return undefined;
      }
      return new Batch<S>(id, client, this);
    } catch (err) {
      if (!isConnectionError(err)) await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', onError);
      client.release(isConnectionError(err) ? (err as Error) : undefined);
      throw err;
    }
  }

  /** Release the notification connection. */
  async close(): Promise<void> {
    await this.listener?.close();
  }
}
