/**
 * A consumer that loses its connection mid-batch rolls back and processes the same batch
 * again after reconnecting: with run(), effects in the same database happen exactly once.
 * Runs on its own server, which is also killed and restarted under the consumer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { install } from '@pgferry/sql';
import { Consumer, Producer, Ticker, createQueue, forceTick, registerConsumer } from '../src/index.js';

describe('consumer recovery', () => {
  let server: PgServer;
  let pool: pg.Pool;
  beforeAll(async () => {
    server = await PgServer.start({ name: 'pgferry-recovery' });
    pool = new pg.Pool({ connectionString: server.url(), max: 10 });
    pool.on('error', () => undefined);
    await install(pool);
    await createQueue(pool, 'jobs', { config: { ticker_max_lag: 10, ticker_max_count: 50 } });
    await registerConsumer(pool, 'jobs', 'worker');
    await pool.query('CREATE TABLE done (id int PRIMARY KEY, batch bigint NOT NULL)');
  });
  afterAll(async () => {
    await pool?.end();
    await server?.destroy();
  });

  it('gets the same batch again after its connection is killed, and after a server crash', async () => {
    const total = 2000;
    const producer = new Producer(pool, { queue: 'jobs' });
    for (let i = 0; i < total; i += 100) {
      await producer.insertMany(Array.from({ length: 100 }, (_, k) => ({ type: 'job', payload: { id: i + k } })));
      await forceTick(pool, 'jobs'); // one batch per 100 events
    }
    const ticker = new Ticker({ connectionString: server.url() }, { tickIntervalMs: 20 }).start();
    const consumer = new Consumer(pool, { queue: 'jobs', name: 'worker', fetchSize: 7, pollIntervalMs: 50 });
    const ac = new AbortController();
    const batchesSeen = new Map<string, number>();
    let kills = 0;
    let crashed = false;
    const running = consumer.run(
      async (batch) => {
        batchesSeen.set(batch.id, (batchesSeen.get(batch.id) ?? 0) + 1);
        let n = 0;
        for await (const ev of batch.events()) {
          await batch.client.query('INSERT INTO done VALUES ($1, $2)', [(ev.payload as { id: number }).id, batch.id]);
          if (++n === 5 && kills < 3 && batchesSeen.get(batch.id) === 1) {
            kills++;
            // Kill this very connection in the middle of the batch.
            const pid = (batch.client as unknown as { processID: number }).processID;
            await pool.query('SELECT pg_terminate_backend($1)', [pid]);
          }
        }
        if (kills === 3 && !crashed) {
          crashed = true;
          await server.kill();
          await server.startAgain();
        }
      },
      { signal: ac.signal },
    );
    const deadline = Date.now() + 50_000;
    for (;;) {
      const n = await pool
        .query('SELECT count(*)::int AS n FROM done')
        .then((r) => r.rows[0].n as number)
        .catch(() => -1);
      if (n === total || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    ac.abort();
    await running;
    await consumer.close();
    await ticker.stop();
    const { rows } = await pool.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, min(id) AS lo, max(id) AS hi FROM done');
    expect(rows[0]).toEqual({ n: total, d: total, lo: 0, hi: total - 1 });
    expect(kills).toBe(3);
    expect(crashed).toBe(true);
    expect(consumer.stats.reconnects).toBeGreaterThanOrEqual(3);
    // The killed batches were processed again under the same batch id.
    expect([...batchesSeen.values()].filter((n) => n > 1).length).toBeGreaterThanOrEqual(3);
  });
});
