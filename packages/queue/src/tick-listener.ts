/**
 * Wakes consumers when a tick is made: one LISTEN connection per listener, NOTIFY
 * pgferry_tick (payload: queue name) from the SQL ticker. Waiters also wake on a fallback
 * timeout, which covers notifications lost while the connection was down.
 */
import createDebug from 'debug';
import pg from 'pg';
import { Backoff, sleep } from './runtime/index.js';

const debug = createDebug('pgferry:listen');

export class TickListener {
  private client: pg.Client | undefined;
  private waiters = new Map<string, Set<() => void>>();
  private closed = false;
  private connecting: Promise<void> | undefined;

  constructor(private readonly config: pg.ClientConfig) {}

  /** Wait for a tick on `queue`, at most `timeoutMs`, or until `signal` aborts. */
  async wait(queue: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.ensureConnected();
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(queue) ?? new Set();
      this.waiters.set(queue, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
      set.add(done);
    });
  }

  private ensureConnected(): void {
    if (this.client || this.connecting || this.closed) return;
    this.connecting = this.connect().finally(() => (this.connecting = undefined));
  }

  private async connect(): Promise<void> {
    const backoff = new Backoff({ minMs: 100, maxMs: 5000 });
    while (!this.closed) {
      const client = new pg.Client(this.config);
      client.on('error', (err) => {
        debug('listen connection lost: %s', err.message);
        if (this.client === client) this.client = undefined;
        this.wakeAll(); // a tick may have been missed: let waiters look
        if (!this.closed) this.ensureConnected();
      });
      client.on('notification', (msg) => {
        if (msg.channel === 'pgferry_tick' && msg.payload) this.wake(msg.payload);
      });
      try {
        await client.connect();
        await client.query('LISTEN pgferry_tick');
        if (this.closed) {
          await client.end();
          return;
        }
        this.client = client;
        this.wakeAll();
        return;
      } catch (err) {
        const wait = backoff.next();
        debug('cannot listen yet: %s (retry in %d ms)', (err as Error).message, wait);
        await client.end().catch(() => undefined);
        await sleep(wait);
      }
    }
  }

  private wake(queue: string): void {
    for (const fn of [...(this.waiters.get(queue) ?? [])]) fn();
  }

  private wakeAll(): void {
    for (const queue of this.waiters.keys()) this.wake(queue);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    await this.connecting?.catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
