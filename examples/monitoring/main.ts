/**
 * The monitoring stack: `pnpm example:monitoring`. An embedded PostgreSQL with a queue, a
 * `pgferry daemon` (ticker and maintenance) serving Prometheus metrics, and a real
 * Prometheus (Debian's `prometheus` package: `apt-get install prometheus`) scraping it with
 * the shipped alert rules (packages/queue/monitoring/prometheus-alerts.yaml). A consumer
 * falls behind while orders come in, then catches up; Prometheus sees its backlog rise and
 * go back to 0, and every alert rule evaluates without error. The example checks all of
 * that itself and prints what to point Grafana at.
 *
 * The same with your own servers:
 *   pgferry daemon --config pgferry.json --metrics-port 9187
 *   prometheus --config.file prometheus.yml     (scrape :9187; rule_files: the alerts file)
 * and import packages/queue/monitoring/grafana-dashboard.json into Grafana.
 */
import path from 'node:path';
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { Prometheus, promtool } from '@pgferry/test/prometheus';
import { install } from '@pgferry/sql';
import { Consumer, Producer, createQueue, forceTick, registerConsumer } from '@pgferry/queue';
import { Daemon, createLogger, parseDaemonConfig } from '@pgferry/queue/daemon';
import { log, runMain } from '../lib/log.js';

const MONITORING = path.resolve('packages/queue/monitoring');
const ALERTS = path.join(MONITORING, 'prometheus-alerts.yaml');
const ORDERS = 2000;
const BACKLOG = 'pgferry_consumer_pending_events{queue="orders",consumer="billing"}';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll Prometheus until `expr` has a sample that satisfies `ok` (the scrape interval is 1 s). */
async function until(prometheus: Prometheus, expr: string, ok: (v: number) => boolean, what: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [s] = await prometheus.query(expr);
    if (s && ok(Number(s.value[1]))) return Number(s.value[1]);
    if (Date.now() > deadline) throw new Error(`Prometheus never showed ${what} (${expr} = ${s?.value[1] ?? 'no series'})`);
    await sleep(250);
  }
}

runMain(async () => {
  const rules = promtool(['check', 'rules', ALERTS]);
  if (rules.status !== 0) throw new Error(`promtool check rules ${ALERTS}:\n${rules.output}`);
  log(`promtool: the shipped alert rules are valid (${ALERTS})`);

  log('starting an embedded PostgreSQL ...');
  const server = await PgServer.start({ name: 'pgferry-example-monitoring' });
  const url = await server.createDatabase('shop');
  const pool = new pg.Pool({ connectionString: url }).on('error', () => undefined);
  let daemon: Daemon | undefined;
  let prometheus: Prometheus | undefined;
  try {
    await install(pool);
    await createQueue(pool, 'orders');
    await registerConsumer(pool, 'orders', 'billing');

    daemon = new Daemon(
      parseDaemonConfig({ databases: [{ name: 'shop', url }], tickIntervalMs: 100, metrics: { port: 0, host: '127.0.0.1' } }),
      createLogger('text', { write: () => undefined }),
    );
    await daemon.start();
    log(`pgferry daemon: ticking "shop", metrics on http://127.0.0.1:${daemon.metricsPort}/metrics`);
    prometheus = await Prometheus.start({ targets: [{ job: 'pgferry', address: `127.0.0.1:${daemon.metricsPort}` }], ruleFiles: [ALERTS] });
    log(`prometheus: ${prometheus.url} scraping the daemon every second, with the alert rules`);
    await until(prometheus, 'up{job="pgferry"}', (v) => v === 1, 'the daemon up');

    const producer = new Producer(pool, { queue: 'orders' });
    for (let i = 0; i < ORDERS; i += 100) {
      await producer.insertMany(Array.from({ length: 100 }, (_, k) => ({ type: 'order', payload: { id: i + k, amount: (i + k) % 97 } })));
    }
    log(`${ORDERS} orders produced; billing is not consuming yet`);
    const backlog = await until(prometheus, BACKLOG, (v) => v >= ORDERS, `a backlog of ${ORDERS}`);
    log(`prometheus: ${BACKLOG} = ${backlog}`);

    await forceTick(pool, 'orders'); // everything committed until now, in batches at once
    const billing = new Consumer(pool, { queue: 'orders', name: 'billing', listen: false });
    let billed = 0;
    await billing.run(
      async (batch) => {
        for await (const _ of batch.events()) billed++;
      },
      { untilIdle: true },
    );
    await billing.close();
    log(`billing consumed ${billed} orders`);
    if (billed !== ORDERS) throw new Error(`billing consumed ${billed} orders, not ${ORDERS}`);
    await until(prometheus, BACKLOG, (v) => v === 0, 'the backlog gone');
    log(`prometheus: ${BACKLOG} = 0`);

    // Every alert rule evaluated against the live series, none failing.
    await sleep(2000);
    const evaluated = await prometheus.rules();
    const broken = evaluated.filter((r) => r.health !== 'ok');
    if (broken.length) throw new Error(`alert rules that failed to evaluate: ${broken.map((r) => `${r.name}: ${r.lastError}`).join('; ')}`);
    const firing = evaluated.filter((r) => r.type === 'alerting' && r.state !== 'inactive').map((r) => r.name);
    log(`prometheus: ${evaluated.length} alert rules evaluated, all healthy; pending or firing: ${firing.join(', ') || 'none'}`);
    if (firing.length) throw new Error(`alerts active on a healthy queue: ${firing.join(', ')}`);
    log(`Grafana: add ${prometheus.url} as a Prometheus data source, import ${path.join(MONITORING, 'grafana-dashboard.json')}`);
    log('monitoring example OK');
    return 0;
  } finally {
    await prometheus?.stop();
    await daemon?.stop();
    await pool.end();
    await server.destroy();
  }
});
