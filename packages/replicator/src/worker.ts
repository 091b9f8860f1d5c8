/**
 * The worker daemon's core: several subscriptions in one process, plus a ticker (and queue
 * maintenance) on each provider, leader-elected so that any number of processes may run it.
 */
import createDebug from 'debug';
import { Ticker } from '@pgferry/queue';
import { SubscriptionWorker, type SubscriptionStats, type SubscriptionWorkerOptions } from './subscription.js';

const debug = createDebug('pgferry:replicator:daemon');

export interface ReplicationWorkerOptions {
  subscriptions: SubscriptionWorkerOptions[];
  /** Run a ticker on each provider (default true). */
  ticker?: boolean;
  /** Ticker check interval (ms, default 100). */
  tickIntervalMs?: number;
}

export class ReplicationWorker {
  readonly subscriptions: SubscriptionWorker[];
  private readonly tickers: Ticker[] = [];

  constructor(private readonly options: ReplicationWorkerOptions) {
    this.subscriptions = options.subscriptions.map((s) => new SubscriptionWorker(s));
  }

  start(): this {
    if (this.options.ticker !== false) {
      const providers = new Map<string, SubscriptionWorkerOptions['provider']>();
      for (const s of this.options.subscriptions) providers.set(JSON.stringify(s.provider), s.provider);
      for (const p of providers.values()) {
        const config = typeof p === 'string' ? { connectionString: p } : p;
        this.tickers.push(new Ticker(config, { tickIntervalMs: this.options.tickIntervalMs ?? 100 }).start());
      }
    }
    for (const s of this.subscriptions) s.start();
    debug('started %d subscription(s), %d ticker(s)', this.subscriptions.length, this.tickers.length);
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.subscriptions.map((s) => s.stop()), ...this.tickers.map((t) => t.stop())]);
    debug('stopped');
  }

  stats(): SubscriptionStats[] {
    return this.subscriptions.map((s) => s.snapshot());
  }
}
