/**
 * The pgferry daemon (pgqd's job): a Ticker per database (ticks every queue, new ones
 * included, and runs maintenance), one leader per database however many daemons run, a
 * Prometheus endpoint and, when configured, the web console (../console/). A database that
 * goes away is retried with backoff (the Ticker's) and the daemon says so in its log and in
 * pgferry_ticker_connected / pgferry_database_up.
 */
import pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Ticker, type QueueFailure } from '../ticker.js';
import { createPool } from '../runtime/index.js';
import { MetricsEndpoint, createMetricsRegistry } from '../metrics/server.js';
import { registerQueueMetrics } from '../metrics/queue-metrics.js';
import { registerTickerMetrics } from '../metrics/ticker-metrics.js';
import { ConsoleEndpoint } from '../console/endpoint.js';
import { queueConsoleView } from '../console/queue-view.js';
import type { DaemonConfig, DatabaseConfig } from './config.js';
import type { Logger } from './log.js';

/** How often each database's state is checked for changes worth a log line (ms). */
const WATCH_INTERVAL_MS = 200;

type State = 'connecting' | 'standby' | 'leader' | 'down';

class DatabaseRunner {
  readonly ticker: Ticker;
  /** Pool for metrics scrapes (one connection, quick to give up when the database is down). */
  readonly pool: pg.Pool;
  private state: State = 'connecting';
  private downSince: number | undefined;
  private lastError: string | undefined;
  private lastLogged = 0;
  private readonly queueErrorsLogged = new Map<string, number>();
  private readonly watch: NodeJS.Timeout;

  constructor(
    readonly config: DatabaseConfig,
    private readonly log: Logger,
  ) {
    const clientConfig: pg.ClientConfig = {
      connectionString: config.url,
      application_name: 'pgferry-daemon',
      connectionTimeoutMillis: 5000,
    };
    this.ticker = new Ticker(clientConfig, {
      tickIntervalMs: config.tickIntervalMs,
      maintIntervalMs: config.maintIntervalMs,
      standbyIntervalMs: config.standbyIntervalMs,
      onError: (err) => this.onError(err),
      onQueueError: (f) => this.onQueueError(f),
    });
    this.pool = createPool({ ...clientConfig, connectionTimeoutMillis: 2000, idleTimeoutMillis: 10_000 }, { max: 1 });
    this.watch = setInterval(() => this.check(), WATCH_INTERVAL_MS);
  }

  start(): void {
    this.log.info('starting ticker and maintenance', { db: this.config.name });
    this.ticker.start();
  }

  private onError(err: Error): void {
    const now = Date.now();
    if (this.state !== 'down') {
      this.downSince = now;
      this.state = 'down';
      this.lastLogged = now;
      this.log.error(`database unavailable: ${err.message}; retrying with backoff`, { db: this.config.name });
    } else if (err.message !== this.lastError || now - this.lastLogged >= 60_000) {
      // A new reason at once; the same one at most once a minute.
      this.lastLogged = now;
      const since = ((now - (this.downSince ?? now)) / 1000).toFixed(0);
      this.log.warn(`still unavailable after ${since}s: ${err.message}`, { db: this.config.name });
    }
    this.lastError = err.message;
  }

  /** One queue's tick or maintenance failed (the others went on): at once, then once a minute. */
  private onQueueError(f: QueueFailure): void {
    const key = `${f.queue ?? ''}\u0000${f.operation}\u0000${f.error}`;
    const now = Date.now();
    if (now - (this.queueErrorsLogged.get(key) ?? 0) < 60_000) return;
    this.queueErrorsLogged.set(key, now);
    const what = f.operation === 'ticker' ? 'tick' : f.operation.replace(/^pgferry\./, '');
    this.log.warn(`${what} failed for queue ${f.queue === null ? '(all queues)' : JSON.stringify(f.queue)}: ${f.error}; the other queues go on`, {
      db: this.config.name,
    });
  }

  private check(): void {
    const { connected, isLeader } = this.ticker.stats;
    const next: State | undefined = isLeader ? 'leader' : connected ? 'standby' : undefined;
    if (!next || next === this.state) return;
    const db = this.config.name;
    if (this.state === 'down' && this.downSince !== undefined) {
      this.log.info(`database is back after ${((Date.now() - this.downSince) / 1000).toFixed(1)}s`, { db });
      this.downSince = undefined;
      this.lastError = undefined;
    }
    if (next === 'leader') this.log.info('ticker leader: ticking all queues and running maintenance', { db });
    else this.log.info('connected; standing by (another process is the ticker leader)', { db });
    this.state = next;
  }

  async stop(): Promise<void> {
    clearInterval(this.watch);
    await this.ticker.stop();
    await this.pool.end().catch(() => undefined);
    this.log.info('stopped', { db: this.config.name });
  }
}

function sameDatabase(a: DatabaseConfig, b: DatabaseConfig): boolean {
  return (
    a.url === b.url &&
    a.tickIntervalMs === b.tickIntervalMs &&
    a.maintIntervalMs === b.maintIntervalMs &&
    a.standbyIntervalMs === b.standbyIntervalMs
  );
}

export class Daemon {
  readonly registry: Registry;
  private readonly runners = new Map<string, DatabaseRunner>();
  private readonly metrics: MetricsEndpoint;
  private readonly console: ConsoleEndpoint;
  private readonly reloads: Counter<'result'>;

  constructor(
    private config: DaemonConfig,
    private readonly log: Logger,
  ) {
    this.registry = createMetricsRegistry();
    this.metrics = new MetricsEndpoint(this.registry);
    const sources = () => [...this.runners.values()].map((r) => ({ name: r.config.name, db: r.pool }));
    registerQueueMetrics(this.registry, { sources });
    this.console = new ConsoleEndpoint('pgferry daemon', [queueConsoleView(sources)], (level, message) => this.log[level](message));
    registerTickerMetrics(this.registry, () =>
      [...this.runners.values()].map((r) => ({ database: r.config.name, ticker: r.ticker })),
    );
    const runners = this.runners;
    new Gauge({
      name: 'pgferry_daemon_databases',
      help: 'Databases this daemon runs the ticker for',
      registers: [this.registry],
      collect() {
        this.set(runners.size);
      },
    });
    this.reloads = new Counter({
      name: 'pgferry_daemon_config_reloads_total',
      help: 'Config reloads (SIGHUP), by result',
      labelNames: ['result'],
      registers: [this.registry],
    });
  }

  /** The port metrics are served on (when configured). */
  get metricsPort(): number | undefined {
    return this.metrics.port;
  }

  /** The port the console is served on (when configured). */
  get consolePort(): number | undefined {
    return this.console.port;
  }

  async start(): Promise<void> {
    await this.applyMetrics();
    await this.applyConsole();
    await this.applyDatabases();
    this.log.info(`running for ${this.runners.size} database(s)`);
  }

  /** Apply a new config: start added databases, stop removed ones, restart changed ones. */
  async reload(config: DaemonConfig): Promise<void> {
    const before = this.config;
    this.config = config;
    try {
      // The metrics endpoint first: it is the part that can fail (port taken), and then
      // nothing of the new config is applied.
      await this.applyMetrics();
      await this.applyConsole();
    } catch (err) {
      this.config = before;
      // The console could not move: the metrics endpoint goes back where it was.
      await this.applyMetrics().catch(() => undefined);
      throw err;
    }
    const { added, removed, changed } = await this.applyDatabases(before);
    this.reloads.inc({ result: 'ok' });
    this.log.info(
      `config reloaded: ${this.runners.size} database(s) (added ${added}, removed ${removed}, changed ${changed})`,
    );
  }

  /** Count a reload that was refused (bad config): the running config stays. */
  reloadFailed(err: Error): void {
    this.reloads.inc({ result: 'error' });
    this.log.error(`config reload refused, keeping the running config: ${err.message.replace(/\n\s*/g, '; ')}`);
  }

  private async applyDatabases(before?: DaemonConfig): Promise<{ added: number; removed: number; changed: number }> {
    const wanted = new Map(this.config.databases.map((d) => [d.name, d]));
    const stops: Promise<void>[] = [];
    let added = 0;
    let removed = 0;
    let changed = 0;
    for (const [name, runner] of this.runners) {
      const w = wanted.get(name);
      if (w && sameDatabase(w, runner.config)) continue;
      if (w) changed++;
      else removed++;
      this.runners.delete(name);
      stops.push(runner.stop());
    }
    // Stopped first: a changed database's old ticker gives up its leader lock before the new one asks.
    await Promise.all(stops);
    for (const [name, d] of wanted) {
      if (this.runners.has(name)) continue;
      if (before && !before.databases.some((b) => b.name === name)) added++;
      const runner = new DatabaseRunner(d, this.log);
      this.runners.set(name, runner);
      runner.start();
    }
    return { added, removed, changed };
  }

  private async applyMetrics(): Promise<void> {
    const m = this.config.metrics;
    if ((await this.metrics.apply(m)) && m) this.log.info(`serving metrics on http://${m.host}:${this.metrics.port}/metrics`);
  }

  private async applyConsole(): Promise<void> {
    const c = this.config.console;
    if ((await this.console.apply(c)) && c) {
      this.log.info(`serving the console on http://${c.host}:${this.console.port}/ (${c.write ? 'actions allowed with the token' : 'read-only'})`);
    }
  }


  /** Stop every ticker (their leader locks go with their connections) and the endpoint. */
  async stop(): Promise<void> {
    const runners = [...this.runners.values()];
    this.runners.clear();
    await this.console.close();
    await Promise.all(runners.map((r) => r.stop()));
    await this.metrics.close();
  }
}
