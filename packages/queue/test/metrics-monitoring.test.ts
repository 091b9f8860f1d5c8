/**
 * The postgres_exporter queries (monitoring/postgres-exporter-queries.yaml) run as a role
 * with just pgferry_reader and yield the same names and figures as the daemon's. (The alert
 * rules and the dashboard: test/monitoring.)
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Consumer, Producer, Ticker, createQueue, forceTick, registerConsumer } from '../src/index.js';
import { Daemon, createLogger, parseDaemonConfig } from '../src/daemon/index.js';
import { createMetricsRegistry, instrumentConsumer, registerQueueMetrics } from '../src/metrics/index.js';

const dir = new URL('../monitoring/', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, dir), 'utf8');

/** Every metric name pgferry exports (daemon, consumer process, process health). */
function exportedNames(pool: pg.Pool): Set<string> {
  const daemon = new Daemon(parseDaemonConfig({ databases: ['postgres://nowhere/x'] }), createLogger('text', { write: () => undefined }));
  instrumentConsumer(new Consumer(pool, { queue: 'q', name: 'c', listen: false }), { registry: daemon.registry });
  const names = new Set<string>();
  for (const m of daemon.registry.getMetricsAsArray()) {
    names.add(m.name);
    if ((m as unknown as { constructor: { name: string } }).constructor.name === 'Histogram') {
      for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

interface ExporterQuery {
  key: string;
  query: string;
  columns: { name: string; usage: string }[];
}

/** The postgres_exporter file's blocks (its layout is fixed: 2-space indents, `query: |`). */
function exporterQueries(text: string): ExporterQuery[] {
  const out: ExporterQuery[] = [];
  let cur: ExporterQuery | undefined;
  let inQuery = false;
  let col: string | undefined;
  for (const line of text.split('\n')) {
    if (/^#/.test(line) || line.trim() === '') continue;
    const top = /^(\w+):$/.exec(line);
    if (top) {
      cur = { key: top[1]!, query: '', columns: [] };
      out.push(cur);
      continue;
    }
    if (line === '  query: |') {
      inQuery = true;
      continue;
    }
    if (line === '  metrics:') {
      inQuery = false;
      continue;
    }
    if (inQuery) cur!.query += line.slice(4) + '\n';
    const c = /^ {4}- (\w+):$/.exec(line);
    if (c) col = c[1];
    const u = /^ {8}usage: "(\w+)"$/.exec(line);
    if (u) cur!.columns.push({ name: col!, usage: u[1]! });
  }
  return out;
}

describe('postgres_exporter queries', () => {
  const db = useTestDatabase();
  const role = `exporter_${randomBytes(4).toString('hex')}`;
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  it('postgres_exporter queries run as a pgferry_reader role and match the daemon\'s figures', async () => {
    await createQueue(db.pool, 'orders', { config: { ticker_max_lag: 50, rotation_period: 1 } });
    await registerConsumer(db.pool, 'orders', 'billing');
    await new Producer(db.pool, { queue: 'orders' }).insertMany(Array.from({ length: 12 }, (_, i) => ({ type: 'o', payload: { i } })));
    await forceTick(db.pool, 'orders');
    // Rotate once with "billing" behind: it then blocks the next rotation.
    const ticker = new Ticker({ connectionString: db.url }, { tickIntervalMs: 20, maintIntervalMs: 50 }).start();
    cleanup.push(() => ticker.stop());
    const own = createMetricsRegistry({ defaultMetrics: false });
    registerQueueMetrics(own, { sources: () => [{ name: db.name, db: db.pool }] });
    const ownFigures = async () => {
      const m = new Map<string, number>();
      for (const line of (await own.metrics()).split('\n')) {
        if (line && !line.startsWith('#')) m.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
      }
      return m;
    };
    for (let i = 0; i < 400; i++) {
      if ((await ownFigures()).get(`pgferry_queue_rotation_blocked{database="${db.name}",queue="orders",consumer="billing"}`) === 1) break;
      // A tick past the switch (one event makes the ticker tick) that "billing" does not take.
      await db.pool.query(`SELECT pgferry.insert_event('orders', 'o', '{}')`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await ticker.stop();
    cleanup.pop();

    await db.pool.query(`CREATE ROLE ${role} LOGIN IN ROLE pgferry_reader`);
    cleanup.push(async () => {
      await db.pool.query(`DROP ROLE IF EXISTS ${role}`);
    });
    const client = new pg.Client({ connectionString: db.urlAs(role) });
    await client.connect();
    cleanup.push(() => client.end());

    const names = exportedNames(db.pool);
    const queries = exporterQueries(read('postgres-exporter-queries.yaml'));
    expect(queries.map((q) => q.key)).toEqual(['pgferry_queue', 'pgferry_queue_rotation', 'pgferry_queue_rotation_blocker', 'pgferry_consumer']);
    const figures = await ownFigures();
    for (const q of queries) {
      const res = await client.query(q.query);
      expect(res.rows.length, q.key).toBeGreaterThan(0);
      expect(res.fields.map((f) => f.name).sort(), q.key).toEqual(q.columns.map((c) => c.name).sort());
      const labels = q.columns.filter((c) => c.usage === 'LABEL').map((c) => c.name);
      for (const row of res.rows as Record<string, unknown>[]) {
        const labelText = labels.map((l) => `${l}="${String(row[l])}"`).join(',');
        for (const c of q.columns.filter((x) => x.usage !== 'LABEL')) {
          const name = `${q.key}_${c.name}`;
          expect(names.has(name), name).toBe(true);
          // Figures that do not depend on the moment of reading agree exactly.
          if (/lag_seconds|pending_age|last_seen|ticker_lag|batch_age/.test(c.name) || q.key === 'pgferry_queue_rotation_blocker') continue;
          // (Timestamps: JavaScript dates hold milliseconds, PostgreSQL microseconds.)
          expect(Number(row[c.name]), `${name}{${labelText}}`).toBeCloseTo(figures.get(`${name}{${labelText}}`)!, 2);
        }
      }
    }
  });
});
