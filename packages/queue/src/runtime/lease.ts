/**
 * A lease: a session advisory lock held on a connection of its own, so that one process
 * among many does a job (tick a database, serve a subscription). A process that finds the
 * lock taken stands by and tries again; one whose connection is lost loses the lease with
 * it (the server drops a session's locks when it ends), and so does one that cannot reach
 * the server any more: a session that answers nothing is treated as lost.
 */
import pg from 'pg';
import { destroyConnection, untilLost } from './connection.js';
import { Backoff } from './backoff.js';
import { sleep, within } from './sleep.js';

export interface LeaseOptions {
  /** The lease's own connection (a new session each attempt). */
  config: pg.ClientConfig;
  /** Try to take the lock on `client`: true when taken. */
  tryLock: (client: pg.Client) => Promise<boolean>;
  /**
   * The work done while the lease is held, on the lease's connection. It should return when
   * `signal` aborts, and throw when the connection fails. Default: a heartbeat
   * (`SELECT 1` every heartbeatMs) until aborted.
   */
  whileHeld?: (client: pg.Client, signal: AbortSignal) => Promise<void>;
  /** Heartbeat of the default whileHeld (ms). Default 5000. */
  heartbeatMs?: number;
  /** Longest wait for an answer from the server (ms). Default 30000. */
  queryMs?: number;
  /**
   * A session of the lease that hears nothing for this long is ended by the server
   * (idle_session_timeout, PostgreSQL 14+): one whose process vanished behind a cut
   * connection (no FIN, no RST) must not keep the lock. Default 6 × heartbeatMs; 0: off.
   */
  idleSessionMs?: number;
  /** While another session holds the lock, how often it is tried again (ms). Default 1000. */
  standbyMs?: number;
  /** After a failure, the first and the longest wait before connecting again (ms). Defaults 1000 and 10000. */
  retryMs?: number;
  maxRetryMs?: number;
  /** The lease's connection is up (standing by or holding), and gone. */
  onConnected?: () => void;
  onDisconnected?: () => void;
  /** The lease was taken. */
  onAcquired?: () => void | Promise<void>;
  /** Another session holds the lock (called when that starts, not on every try). */
  onStandby?: () => void;
  /** The lease ended (lost, or given up on stop). */
  onReleased?: () => void;
  /** The connection failed; `held` tells whether the lease was held then. */
  onError?: (err: Error, held: boolean) => void | Promise<void>;
}

export class Lease {
  /** The lease is held right now. */
  held = false;
  private client: pg.Client | undefined;

  constructor(private readonly options: LeaseOptions) {}

  /** Take and hold the lease until `signal` aborts, taking it again after each loss. */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const queryMs = o.queryMs ?? 30_000;
    const heartbeatMs = o.heartbeatMs ?? 5000;
    const idleSessionMs = o.idleSessionMs ?? heartbeatMs * 6;
    const backoff = new Backoff({ minMs: o.retryMs ?? 1000, maxMs: o.maxRetryMs ?? 10_000 });
    let standingBy = false;
    while (!signal.aborted) {
      const client = new pg.Client(o.config);
      this.client = client;
      client.on('error', () => undefined); // seen by the query in flight, or by the heartbeat
      const bound = <T>(work: Promise<T>, what: string) => untilLost(client, work, queryMs, what);
      let failed = false;
      try {
        await client.connect();
        o.onConnected?.();
        backoff.reset();
        if (idleSessionMs > 0) {
          const v = await bound(client.query<{ v: number }>(`SELECT pg_catalog.current_setting('server_version_num')::int AS v`), 'version');
          if (v.rows[0]!.v >= 140000) {
            await bound(client.query(`SELECT pg_catalog.set_config('idle_session_timeout', $1, false)`, [`${idleSessionMs}ms`]), 'set');
          }
        }
        // Stand by on this connection until the lock is ours.
        while (!signal.aborted && !(await bound(o.tryLock(client), 'the lock'))) {
          if (!standingBy) {
            standingBy = true;
            o.onStandby?.();
          }
          await sleep(o.standbyMs ?? 1000, signal);
        }
        if (signal.aborted) return;
        this.held = true;
        standingBy = false;
        await o.onAcquired?.();
        await (o.whileHeld ?? heartbeat(heartbeatMs, queryMs))(client, signal);
      } catch (err) {
        failed = true;
        const held = this.held;
        this.release();
        if (!signal.aborted) await o.onError?.(err as Error, held);
      } finally {
        this.release();
        this.client = undefined;
        // end() waits for the server's goodbye, which a cut or stalled connection never sends.
        if (failed || !(await within(client.end(), 1000))) destroyConnection(client);
        o.onDisconnected?.();
      }
      if (failed) await sleep(backoff.next(), signal);
    }
  }

  private release(): void {
    if (!this.held) return;
    this.held = false;
    this.options.onReleased?.();
  }

  /** Close the lease's connection now (a stop that must not wait for it). */
  destroy(): void {
    if (this.client) destroyConnection(this.client);
  }
}

/** The default work while held: check every `ms` that the session still answers. */
function heartbeat(ms: number, queryMs: number) {
  return async (client: pg.Client, signal: AbortSignal): Promise<void> => {
    let lost!: (err: Error) => void;
    const gone = new Promise<Error>((resolve) => (lost = resolve));
    const onError = (err: Error) => lost(err);
    const onEnd = () => lost(new Error('Connection terminated'));
    client.on('error', onError);
    client.on('end', onEnd);
    try {
      for (;;) {
        const beat = await Promise.race([gone, sleep(ms, signal).then(() => undefined)]);
        if (beat instanceof Error) throw beat;
        if (signal.aborted) return;
        await untilLost(client, client.query('SELECT 1'), queryMs, 'the lock heartbeat');
      }
    } finally {
      client.off('error', onError);
      client.off('end', onEnd);
    }
  };
}
