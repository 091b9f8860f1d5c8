/**
 * The tickers a worker process runs: one per database it knows (every provider and
 * subscriber of its subscriptions, and the providers its nodes read from now, which a
 * change-provider or a switchover moves). A provider's queue ticks there, a branch's queue
 * (ticked by its worker) needs its maintenance there, and a node promoted to root ticks at
 * once. One ticker per database leads (advisory lock), so several workers may tick one.
 */
import { DEFAULT_TIMEOUTS, Ticker, boundedConfig, clientConfig, connectionLabel, within, type ConnectionConfig, type ConnectionTimeouts } from '@pgferry/queue';
import type { TickerSource } from '@pgferry/queue/metrics';

/** How often the set follows the providers the subscriptions read from (ms). */
export const FOLLOW_INTERVAL_MS = 2000;

/** The databases of `subscriptions` (configured providers, subscribers) and of `providers` (where nodes read from now). */
export function tickedDatabases(
  subscriptions: { provider?: ConnectionConfig; subscriber: ConnectionConfig }[],
  providers: (ConnectionConfig | undefined)[] = [],
): ConnectionConfig[] {
  const databases = new Map<string, ConnectionConfig>();
  for (const db of [...subscriptions.flatMap((s) => [s.provider, s.subscriber]), ...providers]) if (db !== undefined) databases.set(JSON.stringify(db), db);
  return [...databases.values()];
}

/**
 * A provider's ticker (not started). Plain queries only: node-postgres' own query_timeout bounds them.
 * Its session is named pgferry-ticker in pg_stat_activity unless the configuration names one.
 */
export function providerTicker(provider: ConnectionConfig, options: { tickIntervalMs?: number; timeouts?: Partial<ConnectionTimeouts> } = {}): Ticker {
  const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const config = { application_name: 'pgferry-ticker', ...clientConfig(provider), ...boundedConfig(t), query_timeout: t.queryMs };
  return new Ticker(config, { tickIntervalMs: options.tickIntervalMs ?? 100 });
}

/** One running ticker per database of a wanted list. */
export class DatabaseTickers {
  private readonly runs = new Map<string, TickerSource>();

  constructor(private readonly options: { tickIntervalMs?: number; timeouts?: Partial<ConnectionTimeouts> } = {}) {}

  /** The tick interval the tickers run with (ms). */
  get interval(): number | undefined {
    return this.options.tickIntervalMs;
  }

  /** The tickers running, labelled host:port/database (for metrics: read only). */
  get list(): TickerSource[] {
    return [...this.runs.values()];
  }

  /** Start a ticker on every wanted database that has none; stop those no longer wanted. */
  async sync(wanted: ConnectionConfig[]): Promise<void> {
    const keys = new Map(wanted.map((db) => [JSON.stringify(db), db]));
    const stops: Promise<unknown>[] = [];
    for (const [key, run] of this.runs) {
      if (keys.has(key)) continue;
      this.runs.delete(key);
      stops.push(within(run.ticker.stop(), 10_000));
    }
    for (const [key, db] of keys) {
      if (!this.runs.has(key)) this.runs.set(key, { database: connectionLabel(db), ticker: providerTicker(db, this.options).start() });
    }
    await Promise.all(stops);
  }

  /** Ask the ticker of `db` (if this set runs one) for a round now (see Ticker.nudge). */
  nudge(db: ConnectionConfig): void {
    this.runs.get(JSON.stringify(db))?.ticker.nudge();
  }

  /** Stop them all. A ticker waits for its current query at most: its connection closes with the process. */
  async stop(): Promise<void> {
    await this.sync([]);
  }
}
