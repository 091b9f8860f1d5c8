/**
 * The queue consumer under connection faults: its connection dropped, stalled (open and
 * silent), left half-open, and its backend terminated while it reads a batch. Every fault
 * is noticed (a bounded wait, never a hang), the batch comes again, and each event is
 * processed exactly once (the handler writes in the batch's transaction, under a primary key).
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Consumer, Producer, createQueue, forceTick, registerConsumer } from '@pgferry/queue';
import { TcpProxy } from '../harness/tcp-proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('consumer under connection faults', () => {
  const db = useTestDatabase();

  it('recovers from drops, stalls, half-open connections and terminated backends; exactly once', { timeout: 300_000 }, async () => {
    await createQueue(db.pool, 'faults');
    await registerConsumer(db.pool, 'faults', 'c');
    await db.pool.query('CREATE TABLE seen (id bigint PRIMARY KEY)');
    const producer = new Producer(db.pool, { queue: 'faults' });
    const N = 20;
    const PER = 500;
    for (let i = 0; i < N; i++) {
      await producer.insertMany(Array.from({ length: PER }, (_, k) => ({ type: 'e', payload: { k } })));
      await forceTick(db.pool, 'faults');
    }
    const proxy = await TcpProxy.start(Number(new URL(db.url).port));
    // query_timeout bounds the handler's own queries (the consumer bounds its own with queryTimeoutMs).
    const pool = new pg.Pool({ connectionString: proxy.url(db.url), max: 2, connectionTimeoutMillis: 1000, query_timeout: 1500, keepAlive: true });
    pool.on('error', () => undefined);
    const consumer = new Consumer(pool, { queue: 'faults', name: 'c', fetchSize: 20, listen: false, pollIntervalMs: 50, queryTimeoutMs: 1500 });
    const abort = new AbortController();
    const run = consumer.run(
      async (batch) => {
        for await (const ev of batch.events()) {
          await batch.client.query('INSERT INTO seen VALUES ($1)', [ev.id]);
          await sleep(1); // slow enough for faults to land inside batches
        }
      },
      { signal: abort.signal },
    );
    const count = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM seen')).rows[0]!.n;
    const faults: string[] = [];
    try {
      for (const fault of ['drop', 'stall', 'half-open', 'terminate', 'drop', 'stall', 'half-open', 'terminate']) {
        await sleep(400);
        const before = consumer.stats.reconnects;
        if (fault === 'drop') proxy.drop();
        else if (fault === 'stall') proxy.stall();
        else if (fault === 'half-open') proxy.halfOpen();
        else {
          await db.pool.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~ '^(FETCH|INSERT INTO seen)'`,
          );
        }
        faults.push(fault);
        if (fault === 'stall' || fault === 'half-open') {
          // Noticed while it lasts: the bound fires.
          for (let i = 0; i < 100 && consumer.stats.reconnects === before; i++) await sleep(100);
          expect([fault, consumer.stats.reconnects > before]).toEqual([fault, true]);
          proxy.resume();
        }
      }
      let ended: unknown = 'still running';
      void run.then(
        () => (ended = 'returned'),
        (err: unknown) => (ended = err),
      );
      // Up to 3 minutes: a loaded machine (the whole suite on two cores) is slow, not wrong.
      for (let i = 0; i < 1800 && (await count()) < N * PER && ended === 'still running'; i++) await sleep(100);
      expect([await count(), String(ended)]).toEqual([N * PER, 'still running']);
      expect(consumer.stats.reconnects).toBeGreaterThanOrEqual(4);
    } finally {
      abort.abort();
      proxy.resume();
      await run.catch(() => undefined);
      await consumer.close();
      await pool.end();
      await proxy.close();
    }
  });
});
