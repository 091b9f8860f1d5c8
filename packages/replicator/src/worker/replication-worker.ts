/**
 * The worker daemon's core: several subscriptions in one process, plus a ticker (and queue
 * maintenance) on each database it knows, leader-elected so that any number of processes
 * may run it.
 */
import createDebug from 'debug';
import type { ConnectionConfig, ConnectionTimeouts, Ticker } from '@pgferry/queue';
import { DatabaseTickers, FOLLOW_INTERVAL_MS, tickedDatabases } from './tickers.js';
import type { HandlerRegistry } from '../handlers/registry.js';
import { SubscriptionWorker, type SubscriptionStats, type SubscriptionWorkerOptions } from './subscription-worker.js';

export { providerTicker } from './tickers.js';

const debug = createDebug('pgferry:replicator:daemon');

export interface ReplicationWorkerOptions {
  subscriptions: SubscriptionWorkerOptions[];
  /** Run a ticker on each database (providers and subscribers; default true). */
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
  private readonly databases: DatabaseTickers;
  private follow: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReplicationWorkerOptions) {
    // A subscription that finds no batch asks this process's ticker of its provider for a round.
    const askTick = options.ticker === false ? undefined : (db: ConnectionConfig) => this.databases.nudge(db);
    this.subscriptions = options.subscriptions.map((s) => new SubscriptionWorker({ handlers: options.handlers, askTick, ...s }));
    this.databases = new DatabaseTickers({ tickIntervalMs: options.tickIntervalMs ?? 100, timeouts: options.timeouts });
  }

  start(): this {
    if (this.options.ticker !== false) {
      const sync = () => this.databases.sync(tickedDatabases(this.options.subscriptions, this.subscriptions.map((s) => s.providerConfig)));
      void sync();
      this.follow = setInterval(() => void sync().catch(() => undefined), FOLLOW_INTERVAL_MS);
    }
    for (const s of this.subscriptions) s.start();
    debug('started %d subscription(s), %d ticker(s)', this.subscriptions.length, this.databases.list.length);
    return this;
  }

  /** The tickers running, one per database, labelled host:port/database (for metrics: read only). */
  get tickers(): readonly { readonly database: string; readonly ticker: Ticker }[] {
    return this.databases.list;
  }

  async stop(): Promise<void> {
    clearInterval(this.follow);
    await Promise.all([...this.subscriptions.map((s) => s.stop()), this.databases.stop()]);
    debug('stopped');
  }

  stats(): SubscriptionStats[] {
    return this.subscriptions.map((s) => s.snapshot());
  }
}
