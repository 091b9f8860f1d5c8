/**
 * The worker daemon's core: several subscriptions in one process, plus a ticker (and queue
 * maintenance) on each provider, leader-elected so that any number of processes may run it.
 */
import createDebug from 'debug';
import { DEFAULT_TIMEOUTS, Ticker, boundedConfig, clientConfig, connectionLabel, within, type ConnectionConfig, type ConnectionTimeouts } from '@pgferry/queue';
import type { HandlerRegistry } from '../handlers/registry.js';
import { SubscriptionWorker, type SubscriptionStats, type SubscriptionWorkerOptions } from './subscription-worker.js';

const debug = createDebug('pgferry:replicator:daemon');

export interface ReplicationWorkerOptions {
  subscriptions: SubscriptionWorkerOptions[];
  /** Run a ticker on each provider (default true). */
  ticker?: boolean;
  /** Ticker check interval (ms, default 100). */
  tickIntervalMs?: number;
  /** The tickers' connection bounds (the subscriptions have their own). */
  timeouts?: Partial<ConnectionTimeouts>;
  /** The handlers tables may name, for every subscription that names none (default: the built-in ones). */
  handlers?: HandlerRegistry;
}

export class ReplicationWorker {
  readonly subscriptions: SubscriptionWorker[];
  private readonly running: { database: string; ticker: Ticker }[] = [];

  constructor(private readonly options: ReplicationWorkerOptions) {
    this.subscriptions = options.subscriptions.map((s) => new SubscriptionWorker({ handlers: options.handlers, ...s }));
  }

  start(): this {
    if (this.options.ticker !== false) {
      const providers = new Map<string, SubscriptionWorkerOptions['provider']>();
      for (const s of this.options.subscriptions) providers.set(JSON.stringify(s.provider), s.provider);
      for (const p of providers.values()) {
        this.running.push({ database: connectionLabel(p), ticker: providerTicker(p, this.options).start() });
      }
    }
    for (const s of this.subscriptions) s.start();
    debug('started %d subscription(s), %d ticker(s)', this.subscriptions.length, this.running.length);
    return this;
  }

  /** The tickers running, one per provider, labelled host:port/database (for metrics: read only). */
  get tickers(): readonly { readonly database: string; readonly ticker: Ticker }[] {
    return this.running;
  }

  async stop(): Promise<void> {
    // A ticker waits for its current query at most: its connection closes with the process.
    await Promise.all([...this.subscriptions.map((s) => s.stop()), ...this.running.map((t) => within(t.ticker.stop(), 10_000))]);
    debug('stopped');
  }

  stats(): SubscriptionStats[] {
    return this.subscriptions.map((s) => s.snapshot());
  }
}

/** A provider's ticker (not started). Plain queries only: node-postgres' own query_timeout bounds them. */
export function providerTicker(provider: ConnectionConfig, options: Pick<ReplicationWorkerOptions, 'tickIntervalMs' | 'timeouts'> = {}): Ticker {
  const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  // The ticker runs plain queries only: node-postgres' own query_timeout bounds them.
  const config = { ...clientConfig(provider), ...boundedConfig(t), query_timeout: t.queryMs };
  return new Ticker(config, { tickIntervalMs: options.tickIntervalMs ?? 100 });
}
