/**
 * A real Prometheus scrapes a daemon (ticking the provider database), a consumer process and
 * a replication worker, through their own HTTP metrics endpoints, while events flow to a
 * consumer and a table is copied and replicated to a second database. Then every query of
 * the Grafana dashboard (its variables set to that queue, consumer and subscription) and
 * every alert rule runs through Prometheus' HTTP API: each is valid, the dashboard's
 * return data for the queue, the consumer and the replicated table, and the alerts go
 * pending for exactly what the scenario did (a consumer holding back rotation, dead
 * letters, a table whose copy failed) and for nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Consumer, Producer, createQueue, registerConsumer } from '@pgferry/queue';
import { Daemon, createLogger, parseDaemonConfig } from '../../packages/queue/src/daemon/index.js';
import { createMetricsRegistry, instrumentConsumer, serveMetrics as serveQueueMetrics, type MetricsServer } from '../../packages/queue/src/metrics/index.js';
import {
  ReplicationWorker,
  addTable,
  createLeafNode,
  createRootNode,
  listTables,
  replicationMetrics,
} from '../../packages/replicator/src/index.js';
import { tableJson, waitFor } from '../replication/helpers.js';
import { alertNames, alertRulesFile, allPanels, metricRefs, parseLabelValues, readDashboard, substitute } from './files.js';
import { Prometheus } from './prometheus.js';

const DATABASE = 'provider';
const QUEUE = 'jobs';
const CONSUMER = 'billing';
/** Registered, never consumes: holds back rotation of QUEUE. */
const IDLE_CONSUMER = 'audit';
const SUBSCRIPTION = 'leaf1';
/** The dashboard's variables, set to what the scenario produced. */
const VARIABLES = {
  database: DATABASE,
  queue: QUEUE,
  consumer: CONSUMER,
  subscription: SUBSCRIPTION,
  // What Grafana makes of it with a 1 s scrape interval, and then some.
  __rate_interval: '10s',
};
/** The alerts the scenario makes go pending; no other may. */
const EXPECTED_ALERTS = ['PgferryDeadLettersGrowing', 'PgferryReplicationFailing', 'PgferryRotationBlocked'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Date.now() / 1000;

describe('a real Prometheus scraping pgferry', () => {
  const provider = useTestDatabase();
  const subscriber = useTestDatabase();
  const stops: (() => Promise<unknown>)[] = [];
  const abort = new AbortController();
  let prometheus: Prometheus;
  let start: number;
  let end: number;
  /** The replicated table as the worker labels it. */
  let table: string;

  /** Poll Prometheus until `expr` returns something (instant query). */
  const seen = (what: string, expr: string, timeoutMs = 60_000) =>
    waitFor(`Prometheus to see ${what} (${expr})`, async () => (await prometheus.query(expr)).length > 0, timeoutMs, 250);

  beforeAll(async () => {
    const prov = provider.pool;
    // Replication: root on the provider, leaf on the subscriber, one table.
    await createRootNode(prov, { node: 'root', queue: 'repl' });
    await createLeafNode(prov, subscriber.pool, { node: SUBSCRIPTION });
    await prov.query('CREATE TABLE public.orders (id bigint PRIMARY KEY, note text)');
    await prov.query(`INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, 200) g`);
    await addTable(prov, subscriber.pool, { subscription: SUBSCRIPTION, table: 'public.orders', create: true });
    // An application queue that rotates every second; IDLE_CONSUMER never takes a batch.
    await createQueue(prov, QUEUE, { config: { rotation_period: 1, ticker_max_lag: 50 } });
    await registerConsumer(prov, QUEUE, CONSUMER);
    await registerConsumer(prov, QUEUE, IDLE_CONSUMER);

    // The daemon ticks the provider (all its queues) and serves the queue figures.
    const daemon = new Daemon(
      parseDaemonConfig({
        databases: [{ name: DATABASE, url: provider.url }],
        metrics: { port: 0, host: '127.0.0.1' },
        tickIntervalMs: 50,
        maintIntervalMs: 200,
      }),
      createLogger('text', { write: () => undefined }),
    );
    await daemon.start();
    stops.push(() => daemon.stop());
    const daemonMetrics = async () => (await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)).text();
    await waitFor('the daemon to lead the ticker', async () => (await daemonMetrics()).includes(`pgferry_ticker_leader{database="${DATABASE}"} 1`));

    // The table's copy waits on a lock until the test lets it go.
    const locker = await provider.connect();
    stops.push(() => locker.end());
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE');

    // The replication worker (the daemon ticks its queue) and its endpoint.
    const worker = new ReplicationWorker({
      subscriptions: [
        { subscription: SUBSCRIPTION, provider: provider.url, subscriber: subscriber.url, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500 },
      ],
      ticker: false,
    }).start();
    stops.push(() => worker.stop());
    const workerServer: MetricsServer = await serveQueueMetrics({ port: 0, host: '127.0.0.1', registry: replicationMetrics(worker) });
    stops.push(() => workerServer.close());
    await waitFor('the worker to hold the subscription and start the copy', async () => {
      const [s] = worker.stats();
      return !!s?.active && s.copies.length === 1;
    });

    // A consumer process with its own endpoint.
    const consumerPool = new pg.Pool({ connectionString: provider.url, max: 4 });
    consumerPool.on('error', () => undefined);
    stops.push(() => consumerPool.end());
    const consumer = new Consumer(consumerPool, { queue: QUEUE, name: CONSUMER, pollIntervalMs: 100 });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    instrumentConsumer(consumer, { registry });
    const consumerServer: MetricsServer = await serveQueueMetrics({ port: 0, host: '127.0.0.1', registry });
    stops.push(() => consumerServer.close());
    stops.push(() => consumer.close());

    prometheus = await Prometheus.start({
      targets: [
        { job: 'pgferry-daemon', address: `127.0.0.1:${daemon.metricsPort}` },
        { job: 'pgferry-consumer', address: `127.0.0.1:${consumerServer.port}` },
        { job: 'pgferry-replicate', address: `127.0.0.1:${workerServer.port}` },
      ],
      ruleFiles: [alertRulesFile],
    });
    stops.push(() => prometheus.stop());
    start = Math.floor(now());
    await waitFor('every target to be scraped', async () => {
      const t = await prometheus.targets();
      return t.length === 3 && t.every((x) => x.health === 'up');
    });

    // Events flow: every 5th is handed back once for a retry, every 10th is dead-lettered.
    const running = consumer.run(
      async (batch) => {
        for await (const ev of batch.events()) {
          if (ev.type === 'poison') batch.deadLetter(ev, 'cannot be processed');
          else if (ev.type === 'flaky' && ev.retry === null) batch.retry(ev, 100);
        }
      },
      { signal: abort.signal },
    );
    stops.push(() => running);
    const producer = new Producer(prov, { queue: QUEUE });
    const producing = (async () => {
      for (let i = 1; !abort.signal.aborted; i++) {
        await producer.insert(i % 10 === 0 ? 'poison' : i % 5 === 0 ? 'flaky' : 'job', { i });
        await sleep(100);
      }
    })();
    stops.push(() => producing);

    // The copy is seen in progress, then fails: its connection is cut while it waits on the lock.
    const copyRows = `pgferry_replication_copy_rows{subscription="${SUBSCRIPTION}"}`;
    await seen('the copy in progress', copyRows);
    const copying = await prometheus.query(copyRows);
    table = copying[0]!.metric.table!;
    expect(table).toMatch(/orders/);
    const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await waitFor('the copy to fail', async () => {
      await prov.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [lockerPid]);
      return worker.stats()[0]!.failing.includes(table);
    }, 60_000, 300);
    // Its next attempt waits on the lock again: the table stays failing until the lock goes.
    await seen('the table failing', `pgferry_replication_scope_failing{subscription="${SUBSCRIPTION}",scope="${table}"} == 1`);
    // Held until a rule evaluation has seen it too.
    await seen('its alert pending', `ALERTS{alertname="PgferryReplicationFailing",scope="${table}"}`);
    await locker.query('COMMIT');

    // Changes flow to the subscriber once the copy is done.
    await waitFor('the table to be replicated', async () => (await listTables(subscriber.pool, SUBSCRIPTION)).every((t) => t.state === 'ok'));
    await prov.query(`INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(201, 300) g`);
    await prov.query(`UPDATE public.orders SET note = note || ' paid' WHERE id % 3 = 0`);
    await prov.query('DELETE FROM public.orders WHERE id % 7 = 0');
    await waitFor(
      'the changes on the subscriber',
      async () => (await tableJson(prov, 'public.orders')) === (await tableJson(subscriber.pool, 'public.orders')),
    );

    await seen('the applied events', `pgferry_replication_events_total{subscription="${SUBSCRIPTION}"} > 0`);
    await seen('a dead letter', `pgferry_queue_dead_letters{database="${DATABASE}",queue="${QUEUE}"} > 0`);
    await seen('the processed events', `pgferry_consumer_events_processed_total{queue="${QUEUE}",consumer="${CONSUMER}"} > 0`);
    await seen('a retry', `pgferry_consumer_retries_total{queue="${QUEUE}",consumer="${CONSUMER}"} > 0`);
    await seen('rotation held back', `pgferry_queue_rotation_blocked{database="${DATABASE}",queue="${QUEUE}",consumer="${IDLE_CONSUMER}"} == 1`);
    // Enough scrapes after all that for the rates.
    await sleep(5000);
    end = Math.ceil(now());
  }, 300_000);

  afterAll(async () => {
    abort.abort();
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  it('scrapes the daemon, the consumer process and the replication worker', async () => {
    // Scrapes that worked, by job (one timed out on a loaded machine is no defect of ours).
    const up = await prometheus.query(`sum by (job) (sum_over_time(up[${Math.ceil(now() - start)}s]))`);
    const good = Object.fromEntries(up.map((s) => [s.metric.job, Number(s.value[1])]));
    expect(Object.keys(good).sort()).toEqual(['pgferry-consumer', 'pgferry-daemon', 'pgferry-replicate']);
    for (const [job, n] of Object.entries(good)) expect(n, job).toBeGreaterThanOrEqual(5);
  });

  it("every dashboard variable resolves, to the scenario's database, queue, consumer and subscription among others", async () => {
    const vars = readDashboard().templating.list.filter((v) => v.type === 'query');
    expect(vars.map((v) => v.name)).toEqual(['database', 'queue', 'consumer', 'subscription']);
    for (const v of vars) {
      const { selector, label } = parseLabelValues(substitute(v.query, VARIABLES));
      const values = new Set((await prometheus.series(selector, start, end)).map((s) => s[label]));
      expect([...values], `$${v.name}: ${v.query}`).toContain(VARIABLES[v.name as keyof typeof VARIABLES]);
    }
  });

  it('every dashboard query returns data for the queue, the consumer and the replicated table', async () => {
    const results = new Map<string, Awaited<ReturnType<Prometheus['queryRange']>>>();
    for (const p of allPanels(readDashboard())) {
      for (const t of p.targets ?? []) {
        const what = `${p.title} (${t.refId}): ${t.expr}`;
        const series = await prometheus.queryRange(substitute(t.expr, VARIABLES), start, end);
        results.set(`${p.title}/${t.refId}`, series);
        expect(series.length, `no data: ${what}`).toBeGreaterThan(0);
        expect(series.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v)))), `only NaN: ${what}`).toBe(true);
        // The legend names labels the result has.
        for (const label of [...(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!)) {
          for (const s of series) expect(s.metric, `legend {{${label}}}: ${what}`).toHaveProperty(label);
        }
      }
    }
    const labelsOf = (key: string) => results.get(key)!.map((s) => s.metric);
    // The queue, the consumer, the subscription's consumer on the provider, the table.
    expect(labelsOf('Events inserted /s/A')).toContainEqual({ database: DATABASE, queue: QUEUE });
    expect(labelsOf('Consumer lag: oldest pending event, position tick age/A')).toContainEqual(expect.objectContaining({ database: DATABASE, queue: QUEUE, consumer: CONSUMER }));
    expect(labelsOf('Events processed /s (consumer processes)/A')).toContainEqual({ queue: QUEUE, consumer: CONSUMER });
    expect(labelsOf('Rotation blocked by/A')).toContainEqual(expect.objectContaining({ queue: QUEUE, consumer: IDLE_CONSUMER }));
    expect(labelsOf('Replication lag/A')).toContainEqual(expect.objectContaining({ database: DATABASE, queue: 'repl', consumer: SUBSCRIPTION }));
    expect(labelsOf('Events applied /s/A')).toContainEqual({ subscription: SUBSCRIPTION });
    expect(labelsOf('Initial copy by table/A')).toContainEqual(expect.objectContaining({ subscription: SUBSCRIPTION, table }));
    expect(labelsOf('Failing parts/A')).toContainEqual(expect.objectContaining({ subscription: SUBSCRIPTION, scope: table }));
  });

  it('every alert rule loads and evaluates, reads series that exist, and goes pending for exactly what happened', async () => {
    const rules = await prometheus.rules();
    expect(rules.map((r) => r.name)).toEqual(alertNames());
    const metricsSeen = new Set(
      (await prometheus.queryRange('count by (__name__) ({__name__=~"pgferry_.+"})', start, end)).map((s) => s.metric.__name__),
    );
    for (const r of rules) {
      expect([r.health, r.lastError ?? ''], r.name).toEqual(['ok', '']);
      expect(metricRefs(r.query).filter((m) => !metricsSeen.has(m)), `${r.name} reads series that were never scraped`).toEqual([]);
      const fired = await prometheus.queryRange(r.query, start, end);
      expect(fired.length > 0, `${r.name}: ${r.query} returned ${JSON.stringify(fired.map((s) => s.metric))}`).toBe(EXPECTED_ALERTS.includes(r.name));
    }
    const alerts = (await prometheus.queryRange('ALERTS', start, end)).map((s) => s.metric);
    expect([...new Set(alerts.map((a) => a.alertname))].sort()).toEqual(EXPECTED_ALERTS);
    expect(alerts).toContainEqual(expect.objectContaining({ alertname: 'PgferryRotationBlocked', database: DATABASE, queue: QUEUE, consumer: IDLE_CONSUMER }));
    expect(alerts).toContainEqual(expect.objectContaining({ alertname: 'PgferryDeadLettersGrowing', database: DATABASE, queue: QUEUE }));
    expect(alerts).toContainEqual(expect.objectContaining({ alertname: 'PgferryReplicationFailing', subscription: SUBSCRIPTION, scope: table }));
  });
});
