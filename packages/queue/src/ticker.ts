/**
 * Ticker and maintenance inside any process. Many processes may run one: per database a
 * single leader, elected with a session advisory lock held on a dedicated connection,
 * does the work; the others stand by and take over when the leader's connection drops.
 */
import createDebug from 'debug';
import pg from 'pg';
import { q } from './db.js';
import { Lease, isConnectionError } from './runtime/index.js';

const debug = createDebug('pgferry:ticker');

/** Advisory lock key of the ticker leader ("pgft"). */
export const TICKER_LOCK_KEY = 0x70676674;

export interface TickerOptions {
  /**
   * How often the ticker rules are checked (ms). Default 50. Also the longest wait for the
   * tick of events a consumer waits for: committed events its position's tick missed (a
   * burst's last ones, a transaction that was open at that tick) are ticked at the next
   * check (README: "When a queue ticks").
   */
  tickIntervalMs?: number;
  /** How often maintenance runs: rotation, retry mover, tick cleanup (ms). Default 2000. */
  maintIntervalMs?: number;
  /** How often a standby tries to become leader (ms). Default 1000. */
  standbyIntervalMs?: number;
  /** Called after errors (the loop goes on, with backoff). */
  onError?: (err: Error) => void;
  /**
   * Called when the ticker or a maintenance operation fails for one queue: the other queues
   * go on, and so does the loop (no backoff, the connection is fine).
   */
  onQueueError?: (failure: QueueFailure) => void;
}

/** An operation that failed for one queue (the others were done). */
export interface QueueFailure {
  queue: string | null;
  /** 'ticker', or the maintenance function (e.g. 'pgferry.maint_retry_events'). */
  operation: string;
  error: string;
}

export interface TickerStats {
  isLeader: boolean;
  ticks: number;
  rotations: number;
  retriesMoved: number;
  errors: number;
  lastError: string | null;
  /** Failures of one queue's tick or maintenance operation, by queue and operation. */
  queueErrors: Map<string, { queue: string | null; operation: string; count: number; lastError: string }>;
  /** Connected to the database right now. */
  connected: boolean;
}

export interface MaintenanceResult {
  rotations: number;
  retriesMoved: number;
  /** Operations that failed (each rolled back on its own; the others were done). */
  failures: QueueFailure[];
}

/**
 * Run PGQ's maintenance operations once, each in its own transaction. An operation that
 * fails for one queue is reported in `failures` and the others still run; a lost
 * connection is thrown.
 */
export async function runMaintenance(db: pg.Pool | pg.ClientBase): Promise<MaintenanceResult> {
  const ops = await q<{ func_name: string; func_arg: string | null }>(db, 'SELECT * FROM pgferry.maint_operations()');
  const result: MaintenanceResult = { rotations: 0, retriesMoved: 0, failures: [] };
  for (const op of ops) {
    // Function names come from the SQL layer's own list, never from user input.
    if (!/^pgferry\.maint_[a-z0-9_]+$/.test(op.func_name)) continue;
    const sql = op.func_arg === null ? `SELECT ${op.func_name}() AS n` : `SELECT ${op.func_name}($1::text) AS n`;
    let n = 0;
    try {
      const rows = await q<{ n: number }>(db, sql, op.func_arg === null ? [] : [op.func_arg]);
      n = rows[0]?.n ?? 0;
    } catch (err) {
      if (isConnectionError(err)) throw err;
      const failure = { queue: op.func_arg, operation: op.func_name, error: (err as Error).message };
      debug('maintenance: %s failed for %s: %s', op.func_name, op.func_arg ?? 'all queues', failure.error);
      result.failures.push(failure);
      continue;
    }
    if (op.func_name === 'pgferry.maint_rotate_tables_step1') result.rotations += n;
    if (op.func_name === 'pgferry.maint_retry_events') result.retriesMoved += n;
  }
  return result;
}

export class Ticker {
  readonly stats: TickerStats = {
    isLeader: false,
    ticks: 0,
    rotations: 0,
    retriesMoved: 0,
    errors: 0,
    lastError: null,
    connected: false,
    queueErrors: new Map(),
  };
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** Ends the leader's pause between rounds; `nudged`: asked for while a round ran. */
  private endPause: (() => void) | undefined;
  private nudged = false;
  private readonly tickInterval: number;
  private readonly maintInterval: number;
  private readonly standbyInterval: number;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly options: TickerOptions = {},
  ) {
    this.tickInterval = options.tickIntervalMs ?? 50;
    this.maintInterval = options.maintIntervalMs ?? 2000;
    this.standbyInterval = options.standbyIntervalMs ?? 1000;
  }

  start(): this {
    if (!this.loop) {
      this.abort = new AbortController();
      this.loop = this.run(this.abort.signal);
    }
    return this;
  }

  /**
   * Run the next round now rather than after tickIntervalMs: a consumer found no batch and
   * waits, and the "consumer waiting" rule may tick for it at once. Only the leader ticks;
   * a standby ignores it.
   */
  nudge(): void {
    if (this.endPause) this.endPause();
    else this.nudged = true;
  }

  /** Stop after the current step; the leader lock is released with the connection. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.loop = undefined;
  }

  private run(signal: AbortSignal): Promise<void> {
    return new Lease({
      config: this.config,
      tryLock: async (client) => (await q<{ ok: boolean }>(client, 'SELECT pg_catalog.pg_try_advisory_lock($1) AS ok', [TICKER_LOCK_KEY]))[0]?.ok === true,
      standbyMs: this.standbyInterval,
      retryMs: 100,
      maxRetryMs: 10_000,
      // The ticker's own queries keep the session busy: no heartbeat, no idle timeout.
      idleSessionMs: 0,
      whileHeld: (client, sig) => this.serve(client, sig),
      onConnected: () => {
        this.stats.connected = true;
      },
      onDisconnected: () => {
        this.stats.connected = false;
      },
      onAcquired: () => {
        this.stats.isLeader = true;
        debug('became ticker leader');
      },
      onReleased: () => {
        this.stats.isLeader = false;
      },
      onError: (err) => {
        this.stats.errors++;
        this.stats.lastError = err.message;
        this.options.onError?.(err);
        debug('ticker error: %s (retrying with backoff)', err.message);
      },
    }).run(signal);
  }

  /** The leader's work, on the lease's connection, until `signal` aborts. */
  private async serve(client: pg.Client, signal: AbortSignal): Promise<void> {
    // A table locked by someone else holds up one queue's operation for this long at most.
    await client.query(`SET lock_timeout = '5s'`);
    let nextMaint = 0;
    while (!signal.aborted) {
      const ticked = await q<{ queue_name: string; tick_id: string | null; error: string | null }>(
        client,
        'SELECT queue_name, tick_id, error FROM pgferry.ticker_all()',
      );
      for (const t of ticked) {
        if (t.error === null) this.stats.ticks++;
        else this.queueFailed({ queue: t.queue_name, operation: 'ticker', error: t.error });
      }
      if (Date.now() >= nextMaint) {
        const m = await runMaintenance(client);
        this.stats.rotations += m.rotations;
        this.stats.retriesMoved += m.retriesMoved;
        for (const f of m.failures) this.queueFailed(f);
        nextMaint = Date.now() + this.maintInterval;
      }
      await this.pause(signal);
    }
  }

  /** The pause between rounds: tickIntervalMs, or until nudged or stopped. */
  private async pause(signal: AbortSignal): Promise<void> {
    if (this.nudged) {
      this.nudged = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.endPause = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.tickInterval);
      signal.addEventListener('abort', done, { once: true });
      this.endPause = done;
      if (signal.aborted) done();
    });
  }

  private queueFailed(f: QueueFailure): void {
    const key = `${f.queue ?? ''}\u0000${f.operation}`;
    const e = this.stats.queueErrors.get(key) ?? { queue: f.queue, operation: f.operation, count: 0, lastError: '' };
    e.count++;
    e.lastError = f.error;
    this.stats.queueErrors.set(key, e);
    debug('%s failed for queue %s: %s', f.operation, f.queue ?? '(all)', f.error);
    this.options.onQueueError?.(f);
  }
}
