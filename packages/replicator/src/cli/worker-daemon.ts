/**
 * The worker daemon behind `pgferry replicate worker`: its subscriptions, a ticker on each
 * database, the metrics endpoint and the web console, and reloads (SIGHUP) that restart
 * only what changed.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '@pgferry/queue/daemon';
import { MetricsEndpoint, createMetricsRegistry, type TickerSource } from '@pgferry/queue/metrics';
import { ConsoleEndpoint, queueConsoleView } from '@pgferry/queue/console';
import { providerSources, replicationConsoleView } from '../status/console-view.js';
import { replicationMetrics, type ReplicationSource } from '../status/metrics.js';
import { DatabaseTickers, FOLLOW_INTERVAL_MS, tickedDatabases } from '../worker/tickers.js';
import { SubscriptionWorker, type SubscriptionStats } from '../worker/subscription-worker.js';
import type { LoadedHandlers, SubscriptionConfig, WorkerConfig } from './worker-config.js';

interface Running<T> {
  /** What it was started with: a different key on reload restarts it. */
  key: string;
  value: T;
}

export class WorkerDaemon implements ReplicationSource {
  readonly registry: Registry;
  private readonly subs = new Map<string, Running<SubscriptionWorker>>();
  private databases: DatabaseTickers;
  private follow: NodeJS.Timeout | undefined;
  private readonly metrics: MetricsEndpoint;
  private readonly console: ConsoleEndpoint;
  private readonly reloads: Counter<'result'>;

  constructor(
    private config: WorkerConfig,
    private loaded: LoadedHandlers,
    private readonly log: Logger,
  ) {
    this.databases = new DatabaseTickers({ tickIntervalMs: config.tickIntervalMs });
    this.registry = createMetricsRegistry();
    this.metrics = new MetricsEndpoint(this.registry);
    replicationMetrics(this, this.registry);
    this.console = new ConsoleEndpoint(
      'pgferry replicate worker',
      [queueConsoleView(() => providerSources(this)), replicationConsoleView(this)],
      (level, message) => this.log[level](message),
    );
    this.reloads = new Counter({
      name: 'pgferry_replication_config_reloads_total',
      help: 'Worker config reloads (SIGHUP), by result',
      labelNames: ['result'],
      registers: [this.registry],
    });
  }

  /** The handlers in use (a reload keeps them when no module changed). */
  get handlers(): LoadedHandlers {
    return this.loaded;
  }

  get subscriptions(): SubscriptionWorker[] {
    return [...this.subs.values()].map((r) => r.value);
  }

  get tickers(): TickerSource[] {
    return this.databases.list;
  }

  /** The port metrics are served on (when configured). */
  get metricsPort(): number | undefined {
    return this.metrics.port;
  }

  stats(): SubscriptionStats[] {
    return this.subscriptions.map((s) => s.snapshot());
  }

  /** The port the console is served on (when configured). */
  get consolePort(): number | undefined {
    return this.console.port;
  }

  async start(): Promise<void> {
    await this.applyMetrics();
    await this.applyConsole();
    await this.apply();
    // Nodes move (change-provider, switchover): their new providers get a ticker.
    this.follow = setInterval(() => void this.applyTickers().catch(() => undefined), FOLLOW_INTERVAL_MS);
  }

  /** Apply a new config: the metrics endpoint first (it can fail: then nothing changes). */
  async reload(config: WorkerConfig, loaded: LoadedHandlers): Promise<void> {
    const before = { config: this.config, loaded: this.loaded };
    this.config = config;
    this.loaded = loaded;
    try {
      await this.applyMetrics();
      await this.applyConsole();
    } catch (err) {
      this.config = before.config;
      this.loaded = before.loaded;
      // The console could not move: the metrics endpoint goes back where it was.
      await this.applyMetrics().catch(() => undefined);
      throw err;
    }
    const r = await this.apply();
    this.reloads.inc({ result: 'ok' });
    this.log.info(
      `config reloaded: ${this.subs.size} subscription(s) (added ${r.added}, removed ${r.removed}, restarted ${r.changed})` +
        (loaded === before.loaded ? '' : '; handler modules loaded again'),
    );
  }

  /** Count a reload that was refused (bad config or handler): the running config stays. */
  reloadFailed(err: Error): void {
    this.reloads.inc({ result: 'error' });
    this.log.error(`config reload refused, keeping the running config: ${err.message.replace(/\n\s*/g, '; ')}`);
  }

  async stop(): Promise<void> {
    clearInterval(this.follow);
    await this.console.close();
    await Promise.all([...this.subscriptions.map((s) => s.stop()), this.databases.stop()]);
    this.subs.clear();
    await this.metrics.close();
  }

  /** Start, stop and restart subscriptions and tickers to match the config. */
  private async apply(): Promise<{ added: number; removed: number; changed: number }> {
    const counts = { added: 0, removed: 0, changed: 0 };
    const wanted = new Map(this.config.subscriptions.map((s) => [s.subscription, s]));
    const work: Promise<void>[] = [];
    for (const [name, run] of this.subs) {
      if (wanted.has(name)) continue;
      counts.removed++;
      this.subs.delete(name);
      this.log.info(`[${name}] removed from the config: stopping`);
      work.push(run.value.stop());
    }
    for (const s of wanted.values()) {
      // Handlers are shared: new handler modules restart every subscription.
      const key = JSON.stringify([s, this.loaded.version]);
      const run = this.subs.get(s.subscription);
      if (run?.key === key) continue;
      if (run) counts.changed++;
      else counts.added++;
      const next = this.subscriptionWorker(s);
      this.subs.set(s.subscription, { key, value: next });
      work.push(
        (async () => {
          if (run) {
            this.log.info(`[${s.subscription}] config changed: restarting`);
            await run.value.stop();
          }
          next.start();
        })(),
      );
    }
    work.push(this.applyTickers());
    await Promise.all(work);
    return counts;
  }

  private subscriptionWorker(s: SubscriptionConfig): SubscriptionWorker {
    return new SubscriptionWorker({
      ...s,
      handlers: this.loaded.registry,
      log: (level, message) => this.log[level](message),
    });
  }

  /** A ticker per database (see tickedDatabases); a new tick interval restarts them. */
  private async applyTickers(): Promise<void> {
    if (this.databases.interval !== this.config.tickIntervalMs) {
      await this.databases.stop();
      this.databases = new DatabaseTickers({ tickIntervalMs: this.config.tickIntervalMs });
    }
    const wanted = this.config.ticker ? tickedDatabases(this.config.subscriptions, this.subscriptions.map((s) => s.providerConfig)) : [];
    await this.databases.sync(wanted);
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

}
