/**
 * The metrics endpoint a consumer process serves, scraped over HTTP while events flow:
 * queue figures read from SQL at scrape time, the consumer's own counters and batch
 * duration histogram, and process health.
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { freePort } from '@pgferry/test/pg-server';
import { Consumer, Producer, Ticker, createQueue, forceTick, registerConsumer, setQueueConfig } from '../src/index.js';
import { createMetricsRegistry, instrumentConsumer, registerQueueMetrics, serveMetrics } from '../src/metrics/index.js';

/** Parse Prometheus text format into "name{labels}" -> value. */
function parse(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) {
      // What was seen last, for a run that fails on a loaded machine.
      const seen = v instanceof Map ? JSON.stringify([...v].filter(([k]) => /processed_total|pending_events|last_tick_id/.test(String(k)))) : String(v);
      throw new Error(`timed out waiting for ${what} (last seen: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('metrics endpoint', () => {
  const db = useTestDatabase();
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  it('exports queue, consumer and process figures that move as events flow', async () => {
    await createQueue(db.pool, 'orders', { config: { ticker_max_lag: 50, ticker_max_count: 20 } });
    await registerConsumer(db.pool, 'orders', 'billing');
    // A database that is down is reported as such, without failing the scrape.
    const downPool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/x`, connectionTimeoutMillis: 1000 });
    downPool.on('error', () => undefined);
    cleanup.push(() => downPool.end());

    const registry = createMetricsRegistry();
    registerQueueMetrics(registry, { sources: () => [{ name: 'app', db: db.pool }, { name: 'gone', db: downPool }] });
    const consumer = new Consumer(db.pool, { queue: 'orders', name: 'billing', pollIntervalMs: 50, fetchSize: 7 });
    instrumentConsumer(consumer, { registry });
    const server = await serveMetrics({ port: 0, host: '127.0.0.1', registry });
    cleanup.push(() => server.close());
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      return parse(await res.text());
    };
    const q = '{database="app",queue="orders"}';
    const c = '{database="app",queue="orders",consumer="billing"}';
    const own = '{queue="orders",consumer="billing"}';

    const first = await scrape();
    expect(first.get('pgferry_database_up{database="app"}')).toBe(1);
    expect(first.get('pgferry_database_up{database="gone"}')).toBe(0);
    expect(first.get(`pgferry_queue_events_total${q}`)).toBe(0);
    expect(first.get(`pgferry_consumer_pending_events${c}`)).toBe(0);
    expect(first.get(`pgferry_consumer_batches_total${own}`)).toBe(0);
    expect(first.get(`pgferry_queue_current_table${q}`)).toBe(0);
    expect(first.get(`pgferry_queue_last_rotation_timestamp_seconds${q}`)).toBeGreaterThan(1.7e9);
    expect(first.has('pgferry_process_resident_memory_bytes')).toBe(true);

    // 100 events, nobody ticking or consuming yet: all pending.
    const producer = new Producer(db.pool, { queue: 'orders' });
    await producer.insertMany(Array.from({ length: 100 }, (_, i) => ({ type: 'order', payload: { i } })));
    const inserted = await scrape();
    expect(inserted.get(`pgferry_queue_events_total${q}`)).toBe(100);
    expect(inserted.get(`pgferry_queue_events_not_ticked${q}`)).toBe(100);
    expect(inserted.get(`pgferry_consumer_pending_events${c}`)).toBe(100);
    expect(inserted.get(`pgferry_queue_pending_events${q}`)).toBe(100);
    expect(inserted.get(`pgferry_consumer_lag_seconds${c}`)).toBeGreaterThan(0);
    // Not ticked yet: not pending for the consumer (the ticker's figures show them).
    expect(inserted.get(`pgferry_consumer_pending_age_seconds${c}`)).toBe(0);
    // Ticked and not consumed: the oldest has been waiting since that tick.
    await forceTick(db.pool, 'orders');
    await new Promise((r) => setTimeout(r, 20));
    const ticked = await scrape();
    expect(ticked.get(`pgferry_consumer_pending_age_seconds${c}`)).toBeGreaterThanOrEqual(0.02);
    expect(ticked.get(`pgferry_queue_pending_age_seconds${q}`)).toBe(ticked.get(`pgferry_consumer_pending_age_seconds${c}`));

    // Now tick and consume: every 10th event is dead-lettered, every 10th+1 retried once.
    const ticker = new Ticker({ connectionString: db.url }, { tickIntervalMs: 20, maintIntervalMs: 100 }).start();
    cleanup.push(() => ticker.stop());
    const ac = new AbortController();
    const running = consumer.run(
      async (batch) => {
        for await (const ev of batch.events()) {
          const i = (ev.payload as { i: number }).i;
          if (i % 10 === 0) batch.deadLetter(ev, 'bad order');
          else if (i % 10 === 1 && ev.retry === null) batch.retry(ev, 0);
        }
      },
      { signal: ac.signal },
    );
    cleanup.push(async () => {
      ac.abort();
      await running;
      await consumer.close();
    });

    // 100 first deliveries + 10 retried deliveries.
    const done = await until(scrape, (m) => m.get(`pgferry_consumer_events_processed_total${own}`) === 110, '110 events processed');
    expect(done.get(`pgferry_consumer_dead_lettered_total${own}`)).toBe(10);
    expect(done.get(`pgferry_consumer_retries_total${own}`)).toBe(10);
    const batches = done.get(`pgferry_consumer_batches_total${own}`)!;
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(done.get(`pgferry_consumer_batch_duration_seconds_count${own}`)).toBe(batches);
    expect(done.get(`pgferry_consumer_batch_duration_seconds_sum${own}`)).toBeGreaterThan(0);
    expect(done.get(`pgferry_queue_dead_letters${q}`)).toBe(10);
    expect(done.get(`pgferry_consumer_dead_letters${c}`)).toBe(10);
    // Retried copies get new event ids: the counter counts them too.
    expect(done.get(`pgferry_queue_events_total${q}`)).toBe(110);

    // Caught up: nothing pending for the consumer once it is at the last tick.
    const idle = await until(scrape, (m) => m.get(`pgferry_consumer_pending_events${c}`) === 0, 'the consumer to catch up');
    expect(idle.get(`pgferry_consumer_ticks_behind${c}`)).toBe(0);
    expect(idle.get(`pgferry_queue_pending_events${q}`)).toBe(0);
    expect(idle.get(`pgferry_consumer_pending_age_seconds${c}`)).toBe(0);
    expect(idle.get(`pgferry_queue_pending_age_seconds${q}`)).toBe(0);
    expect(idle.get(`pgferry_queue_last_tick_id${q}`)).toBeGreaterThan(first.get(`pgferry_queue_last_tick_id${q}`)!);

    // More events: the counter goes on from where it was (rate() works on it).
    await producer.insertMany(Array.from({ length: 50 }, (_, i) => ({ type: 'order', payload: { i: 1000 + i * 10 + 5 } })));
    const more = await until(scrape, (m) => m.get(`pgferry_consumer_events_processed_total${own}`) === 160, '50 more events');
    expect(more.get(`pgferry_queue_events_total${q}`)).toBe(160);
  });

  it('shows the consumer that blocks rotation', async () => {
    await createQueue(db.pool, 'rot', { config: { rotation_period: 1, ticker_max_lag: 50 } });
    await registerConsumer(db.pool, 'rot', 'stale');
    const registry = createMetricsRegistry({ defaultMetrics: false });
    registerQueueMetrics(registry, { sources: () => [{ name: 'app', db: db.pool }] });
    const ticker = new Ticker({ connectionString: db.url }, { tickIntervalMs: 20, maintIntervalMs: 50 }).start();
    cleanup.push(() => ticker.stop());
    // The first rotation goes through; after it the stale consumer is behind the switch (and
    // does not take the ticks past it that events make).
    const m = await until(
      async () => {
        await db.pool.query(`SELECT pgferry.insert_event('rot', 't', 'x')`);
        return parse(await registry.metrics());
      },
      (x) => x.get('pgferry_queue_rotation_blocked{database="app",queue="rot",consumer="stale"}') === 1,
      'rotation to be blocked by "stale"',
    );
    expect(m.get('pgferry_queue_current_table{database="app",queue="rot"}')).toBe(1);
    expect(m.get('pgferry_queue_rotation_blocker_seconds{database="app",queue="rot",kind="consumer"}')).toBeGreaterThan(0);
  });
});
