/**
 * Ticker and maintenance inside any process. Many processes may run one: per database a
 * single leader, elected with a session advisory lock held on a dedicated connection,
 * does the work; the others stand by and take over when the leader's connection drops.
 */
import createDebug from 'debug';
import pg from 'pg';
import { destroyConnection, q, sleep } from './db.js';

const debug = createDebug('pgferry:ticker');

/** Advisory lock key of the ticker leader ("pgft"). */
export const TICKER_LOCK_KEY = 0x70676674;

export interface TickerOptions {
  /** How often the ticker rules are checked (ms). Default 50. */
  tickIntervalMs?: number;
  /** How often maintenance runs: rotation, retry mover, tick cleanup (ms). Default 2000. */
  maintIntervalMs?: number;
  /** How often a standby tries to become leader (ms). Default 1000. */
  standbyIntervalMs?: number;
  /** Called after errors (the loop goes on, with backoff). */
  onError?: (err: Error) => void;
}

export interface TickerStats {
  isLeader: boolean;
  ticks: number;
  rotations: number;
  retriesMoved: number;
  errors: number;
  lastError: string | null;
  /** Connected to the database right now. */
  connected: boolean;
}

/** Run PGQ's maintenance operations once, each in its own transaction. */
export async function runMaintenance(db: pg.Pool | pg.ClientBase): Promise<{ rotations: number; retriesMoved: number }> {
  const ops = await q<{ func_name: string; func_arg: string | null }>(db, 'SELECT * FROM pgferry.maint_operations()');
  let rotations = 0;
  let retriesMoved = 0;
  for (const op of ops) {
    // Function names come from the SQL layer's own list, never from user input.
    if (!/^pgferry\.maint_[a-z0-9_]+$/.test(op.func_name)) continue;
    const sql = op.func_arg === null ? `SELECT ${op.func_name}() AS n` : `SELECT ${op.func_name}($1) AS n`;
    const rows = await q<{ n: number }>(db, sql, op.func_arg === null ? [] : [op.func_arg]);
    const n = rows[0]?.n ?? 0;
    if (op.func_name === 'pgferry.maint_rotate_tables_step1') rotations += n;
    if (op.func_name === 'pgferry.maint_retry_events') retriesMoved += n;
  }
  return { rotations, retriesMoved };
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
  };
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
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

  /** Stop after the current step; the leader lock is released with the connection. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let backoff = 100;
    while (!signal.aborted) {
      const client = new pg.Client(this.config);
      client.on('error', () => undefined);
      let failed = false;
      try {
        await client.connect();
        this.stats.connected = true;
        backoff = 100;
        await this.serve(client, signal);
      } catch (err) {
        // Not connected (nor leader) while backing off: stats are read by monitoring.
        this.stats.isLeader = false;
        this.stats.connected = false;
        failed = true;
        this.stats.errors++;
        this.stats.lastError = (err as Error).message;
        this.options.onError?.(err as Error);
        debug('ticker error: %s (retry in %d ms)', (err as Error).message, backoff);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 10_000);
      } finally {
        this.stats.isLeader = false;
        this.stats.connected = false;
        // end() waits for the server's goodbye, which a stalled or cut connection never sends.
        if (failed) destroyConnection(client);
        await client.end().catch(() => undefined);
      }
    }
  }

  private async serve(client: pg.Client, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const rows = await q<{ ok: boolean }>(client, 'SELECT pg_try_advisory_lock($1) AS ok', [TICKER_LOCK_KEY]);
      if (rows[0]?.ok) break;
      await sleep(this.standbyInterval, signal);
    }
    if (signal.aborted) return;
    this.stats.isLeader = true;
    debug('became ticker leader');
    let nextMaint = 0;
    while (!signal.aborted) {
      this.stats.ticks += (await q<{ n: number }>(client, 'SELECT pgferry.ticker() AS n'))[0]?.n ?? 0;
      if (Date.now() >= nextMaint) {
        const m = await runMaintenance(client);
        this.stats.rotations += m.rotations;
        this.stats.retriesMoved += m.retriesMoved;
        nextMaint = Date.now() + this.maintInterval;
      }
      await sleep(this.tickInterval, signal);
    }
  }
}
