/**
 * The queue's central claim under load: concurrent producers committing, rolling back and
 * rolling back to savepoints, a transaction held open across many ticks, the ticker and
 * rotation running all the while, plain and cooperative consumers. Every committed event
 * reaches every consumer exactly once; no rolled-back event is delivered; a source
 * transaction is never split across batches.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  Consumer,
  Producer,
  Ticker,
  createQueue,
  getQueueInfo,
  registerConsumer,
  registerSubconsumer,
} from '@pgferry/queue';

interface Delivery {
  consumer: string;
  batch: string;
  tx: number;
  seq: number;
}

describe('exactly once under load, with rotation', () => {
  const db = useTestDatabase();

  it('delivers every committed event once per consumer and nothing else', async () => {
    await createQueue(db.pool, 'load', {
      tables: 3,
      config: { ticker_max_lag: 5, ticker_max_count: 40, rotation_period: 300 },
    });
    for (const c of ['a', 'b']) await registerConsumer(db.pool, 'load', c);
    await registerSubconsumer(db.pool, 'load', 'coop', 's1');
    await registerSubconsumer(db.pool, 'load', 'coop', 's2');
    await db.pool.query('CREATE TABLE delivered (consumer text, batch bigint, tx int, seq int)');

    const ticker = new Ticker({ connectionString: db.url }, { tickIntervalMs: 5, maintIntervalMs: 100 }).start();
    const stop = new AbortController();
    const consumers = [
      new Consumer(db.pool, { queue: 'load', name: 'a', fetchSize: 13, pollIntervalMs: 50 }),
      new Consumer(db.pool, { queue: 'load', name: 'b', pollIntervalMs: 50 }),
      new Consumer(db.pool, { queue: 'load', name: 'coop', subconsumer: 's1', pollIntervalMs: 50 }),
      new Consumer(db.pool, { queue: 'load', name: 'coop', subconsumer: 's2', pollIntervalMs: 50 }),
    ];
    const running = consumers.map((c) =>
      c.run(
        async (batch) => {
          const rows: Delivery[] = [];
          for await (const ev of batch.events()) {
            const p = ev.payload as { tx: number; seq: number };
            rows.push({ consumer: c.name, batch: batch.id, tx: p.tx, seq: p.seq });
          }
          if (rows.length) {
            await batch.client.query(
              `INSERT INTO delivered SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(consumer text, batch bigint, tx int, seq int)`,
              [JSON.stringify(rows)],
            );
          }
        },
        { signal: stop.signal },
      ),
    );

    // Producers: each transaction writes 1..5 events; some commit, some roll back, some
    // roll back a savepoint (its events must vanish, the others stay).
    const committed = new Map<number, number[]>(); // tx -> seqs
    let txCounter = 0;
    const producer = new Producer(db.pool, { queue: 'load' });
    const produce = async (client: pg.PoolClient, count: number) => {
      for (let i = 0; i < count; i++) {
        const tx = ++txCounter;
        const kept: number[] = [];
        await client.query('BEGIN');
        const n = 1 + (tx % 5);
        for (let seq = 0; seq < n; seq++) {
          const inSavepoint = tx % 7 === 3 && seq === n - 1;
          if (inSavepoint) await client.query('SAVEPOINT s');
          await producer.insert('ev', { tx, seq }, { client });
          if (inSavepoint) await client.query('ROLLBACK TO SAVEPOINT s');
          else kept.push(seq);
        }
        if (tx % 6 === 0) {
          await client.query('ROLLBACK');
        } else {
          await client.query('COMMIT');
          committed.set(tx, kept);
        }
      }
    };
    // One transaction stays open across many ticks and rotations, then commits; another
    // stays open and rolls back.
    const longCommit = await db.pool.connect();
    const longRollback = await db.pool.connect();
    const longTx = { commit: 1_000_001, rollback: 1_000_002 };
    await longCommit.query('BEGIN');
    await producer.insert('ev', { tx: longTx.commit, seq: 0 }, { client: longCommit });
    await longRollback.query('BEGIN');
    await producer.insert('ev', { tx: longTx.rollback, seq: 0 }, { client: longRollback });

    const clients = await Promise.all([0, 1, 2].map(() => db.pool.connect()));
    await Promise.all(clients.map((c) => produce(c, 150)));
    await producer.insert('ev', { tx: longTx.commit, seq: 1 }, { client: longCommit });
    await longCommit.query('COMMIT');
    committed.set(longTx.commit, [0, 1]);
    await longRollback.query('ROLLBACK');
    // Keep producing until the queue has rotated several times under load (the open
    // transactions above held rotation back: their events had to stay).
    const rotateDeadline = Date.now() + 60_000;
    while (ticker.stats.rotations < 3 && Date.now() < rotateDeadline) {
      await Promise.all(clients.map((c) => produce(c, 10)));
    }
    for (const c of [...clients, longCommit, longRollback]) c.release();

    const expected = [...committed.values()].reduce((s, v) => s + v.length, 0);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const { rows } = await db.pool.query(
        `SELECT count(*) FILTER (WHERE consumer = 'a')::int AS a, count(*) FILTER (WHERE consumer = 'b')::int AS b,
                count(*) FILTER (WHERE consumer = 'coop')::int AS coop FROM delivered`,
      );
      const r = rows[0] as { a: number; b: number; coop: number };
      if ((r.a >= expected && r.b >= expected && r.coop >= expected) || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    stop.abort();
    await Promise.all(running);
    await Promise.all(consumers.map((c) => c.close()));
    await ticker.stop();

    const { rows } = await db.pool.query<Delivery>('SELECT consumer, batch::text AS batch, tx, seq FROM delivered');
    for (const name of ['a', 'b', 'coop']) {
      const mine = rows.filter((r) => r.consumer === name);
      const seen = new Map<string, number>();
      for (const r of mine) seen.set(`${r.tx}:${r.seq}`, (seen.get(`${r.tx}:${r.seq}`) ?? 0) + 1);
      const want = new Set([...committed].flatMap(([tx, seqs]) => seqs.map((s) => `${tx}:${s}`)));
      const missing = [...want].filter((k) => !seen.has(k));
      const doubled = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
      const phantom = [...seen.keys()].filter((k) => !want.has(k));
      expect({ name, missing, doubled, phantom }).toEqual({ name, missing: [], doubled: [], phantom: [] });
      // A source transaction is never split across batches.
      const batchesOfTx = new Map<number, Set<string>>();
      for (const r of mine) batchesOfTx.set(r.tx, (batchesOfTx.get(r.tx) ?? new Set()).add(r.batch));
      expect([...batchesOfTx].filter(([, b]) => b.size > 1)).toEqual([]);
    }
    // The cooperative sub-consumers shared the work.
    const coopBatches = new Set(rows.filter((r) => r.consumer === 'coop').map((r) => r.batch));
    expect(coopBatches.size).toBeGreaterThan(1);
    expect(ticker.stats.rotations).toBeGreaterThanOrEqual(3);
    const [info] = await getQueueInfo(db.pool, 'load');
    expect(info!.consumers).toBe(3);
  }, 240_000);
});
