import { afterEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  Consumer,
  Producer,
  Ticker,
  createQueue,
  finishBatch,
  forceTick,
  getConsumerInfo,
  getQueueInfo,
  nextBatch,
  registerConsumer,
  runMaintenance,
  type QueueFailure,
} from '../src/index.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ticker', () => {
  const db = useTestDatabase();
  const tickers: Ticker[] = [];
  afterEach(async () => {
    await Promise.all(tickers.splice(0).map((t) => t.stop()));
  });

  it('elects one leader per database and fails over when it stops', async () => {
    const a = new Ticker({ connectionString: db.url }, { standbyIntervalMs: 50 }).start();
    const b = new Ticker({ connectionString: db.url }, { standbyIntervalMs: 50 }).start();
    tickers.push(a, b);
    await until(() => a.stats.isLeader || b.stats.isLeader, 'a leader');
    // Give the standby several chances to (wrongly) take the lock too.
    await new Promise((r) => setTimeout(r, 300));
    expect(Number(a.stats.isLeader) + Number(b.stats.isLeader)).toBe(1);
    const [leader, standby] = a.stats.isLeader ? [a, b] : [b, a];
    await leader.stop();
    await until(() => standby.stats.isLeader, 'the standby to take over');
  });

  it('ticks new queues by itself and wakes consumers with NOTIFY', async () => {
    tickers.push(new Ticker({ connectionString: db.url }, { tickIntervalMs: 20 }).start());
    await createQueue(db.pool, 'wake', { config: { ticker_max_lag: 10 } });
    await registerConsumer(db.pool, 'wake', 'c');
    // The fallback poll is an hour: only a notification can deliver within the test timeout.
    const consumer = new Consumer(db.pool, { queue: 'wake', name: 'c', pollIntervalMs: 3_600_000 });
    const ac = new AbortController();
    const got: unknown[] = [];
    const running = consumer.run(
      async (batch) => {
        for await (const ev of batch.events()) got.push(ev.payload);
        if (got.length) ac.abort();
      },
      { signal: ac.signal },
    );
    // Let the consumer go to sleep on its LISTEN connection first.
    await new Promise((r) => setTimeout(r, 200));
    await new Producer(db.pool, { queue: 'wake' }).insert('ping', { n: 1 });
    await running;
    expect(got).toEqual([{ n: 1 }]);
    await consumer.close();
    const [info] = await getQueueInfo(db.pool, 'wake');
    expect(Number(info!.lastTickId)).toBeGreaterThan(0);
  });

  it('runs a round at once when nudged (a consumer waits), and ticks a waiting consumer\'s events in it', async () => {
    await createQueue(db.pool, 'nudge', { config: { ticker_max_lag: 3_600_000, ticker_idle_period: 86_400_000, ticker_max_count: 1_000_000 } });
    await registerConsumer(db.pool, 'nudge', 'c');
    await forceTick(db.pool, 'nudge');
    for (let b = await nextBatch(db.pool, 'nudge', 'c'); b !== null; b = await nextBatch(db.pool, 'nudge', 'c')) await finishBatch(db.pool, b);
    // A round an hour apart: only a nudge ticks within the test's timeout.
    const t = new Ticker({ connectionString: db.url }, { tickIntervalMs: 3_600_000 }).start();
    tickers.push(t);
    await until(() => t.stats.isLeader, 'leader');
    await new Promise((r) => setTimeout(r, 200)); // its first round is done, it pauses
    const before = (await getQueueInfo(db.pool, 'nudge'))[0]!.lastTickId;
    await new Producer(db.pool, { queue: 'nudge' }).insert('e', { n: 1 });
    t.nudge();
    await until(async () => (await getQueueInfo(db.pool, 'nudge'))[0]!.lastTickId !== before, 'the nudged tick');
    const batch = await nextBatch(db.pool, 'nudge', 'c');
    expect(batch).not.toBeNull();
    await finishBatch(db.pool, batch!);
    // A nudge during a round is kept for the next pause.
    await new Producer(db.pool, { queue: 'nudge' }).insert('e', { n: 2 });
    const second = (await getQueueInfo(db.pool, 'nudge'))[0]!.lastTickId;
    t.nudge();
    t.nudge();
    await until(async () => (await getQueueInfo(db.pool, 'nudge'))[0]!.lastTickId !== second, 'the second nudged tick');
  });

  it('goes on ticking and maintaining the other queues when one queue fails, and counts the failures', async () => {
    await createQueue(db.pool, 'healthy', { config: { ticker_max_lag: 10, rotation_period: 1 } });
    await createQueue(db.pool, 'damaged', { config: { ticker_max_lag: 10 } });
    const { rows } = await db.pool.query(`SELECT queue_event_seq::text AS seq FROM pgferry.queue WHERE queue_name = 'damaged'`);
    await db.pool.query(`DROP SEQUENCE ${rows[0].seq}`);
    // And a rotation period that overflows timestamps (as before its CHECK constraint existed).
    await db.pool.query(`ALTER TABLE pgferry.queue DROP CONSTRAINT queue_rotation_period_range`);
    await db.pool.query(`UPDATE pgferry.queue SET queue_rotation_period = '300000 years' WHERE queue_name = 'damaged'`);
    try {
      const failures: QueueFailure[] = [];
      const t = new Ticker({ connectionString: db.url }, { tickIntervalMs: 20, maintIntervalMs: 50, onQueueError: (f) => failures.push(f) }).start();
      tickers.push(t);
      const before = Number((await getQueueInfo(db.pool, 'healthy'))[0]!.lastTickId);
      await new Producer(db.pool, { queue: 'healthy' }).insert('e', { n: 1 });
      await until(async () => Number((await getQueueInfo(db.pool, 'healthy'))[0]!.lastTickId) > before, 'a tick of the healthy queue');
      await until(() => t.stats.rotations > 0, 'a rotation of the healthy queue');
      await until(() => failures.some((f) => f.operation === 'pgferry.maint_rotate_tables_step1'), 'a maintenance failure');
      expect(failures.find((f) => f.operation === 'ticker')).toMatchObject({ queue: 'damaged', error: expect.stringMatching(/queue "damaged" is damaged/) });
      expect(failures.every((f) => f.queue === 'damaged')).toBe(true);
      expect(t.stats.errors).toBe(0); // the connection was never given up
      expect([...t.stats.queueErrors.values()].find((e) => e.operation === 'ticker')!.count).toBeGreaterThan(0);

      // The same by hand: the failure is returned, the other queues' operations are done.
      await db.pool.query(`SELECT pgferry.set_queue_config('healthy', 'rotation_period', '1 hour')`);
      const m = await runMaintenance(db.pool);
      expect(m.failures).toEqual([
        { queue: 'damaged', operation: 'pgferry.maint_rotate_tables_step1', error: 'timestamp out of range' },
      ]);
      const [info] = await getQueueInfo(db.pool, 'damaged');
      expect(info!.statusError).toMatch(/event id sequence .* is missing/);
    } finally {
      await Promise.all(tickers.splice(0).map((x) => x.stop()));
      await db.pool.query(`DELETE FROM pgferry.queue WHERE queue_name = 'damaged'`);
      await db.pool.query(`ALTER TABLE pgferry.queue ADD CONSTRAINT queue_rotation_period_range
        CHECK (queue_rotation_period BETWEEN interval '1 millisecond' AND interval '1 year')`);
    }
  });

  describe('latency that does not depend on traffic', () => {
    // Count, lag and idle rules an hour away: only the new rules can tick within a test.
    const HOUR = 3_600_000;
    const quiet = { ticker_max_lag: HOUR, ticker_idle_period: HOUR, ticker_max_count: 1_000_000 };

    /** A consumer that collects payloads, woken only by NOTIFY (its fallback poll is an hour). */
    function collect(queue: string) {
      const consumer = new Consumer(db.pool, { queue, name: 'c', pollIntervalMs: HOUR });
      const ac = new AbortController();
      const got: unknown[] = [];
      const running = consumer.run(
        async (batch) => {
          for await (const ev of batch.events()) got.push(ev.payload);
        },
        { signal: ac.signal },
      );
      return {
        got,
        async stop() {
          ac.abort();
          await running;
          await consumer.close();
        },
      };
    }
    const position = async (queue: string) => (await getConsumerInfo(db.pool, queue, 'c'))[0]!.lastTick;

    it('delivers the events of a transaction that was open at a tick soon after it commits', async () => {
      await createQueue(db.pool, 'late', { config: quiet });
      await registerConsumer(db.pool, 'late', 'c');
      tickers.push(new Ticker({ connectionString: db.url }, { tickIntervalMs: 20 }).start());
      const c = collect('late');
      const writer = await db.connect();
      try {
        await writer.query('BEGIN');
        await new Producer(db.pool, { queue: 'late' }).insert('big', { n: 1 }, { client: writer });
        await db.pool.query('SELECT pg_current_xact_id()'); // something else commits meanwhile
        const t = await forceTick(db.pool, 'late');
        await until(async () => (await position('late')) === t, 'the consumer to take the tick made while the writer was open');
        await writer.query('COMMIT');
        const committed = Date.now();
        // The old rules waited for ticker_idle_period (an hour here).
        await until(() => c.got.length === 1, 'the late commit delivered', 10_000);
        expect(Date.now() - committed).toBeLessThan(10_000);
        expect(c.got).toEqual([{ n: 1 }]);
      } finally {
        await writer.end();
        await c.stop();
      }
    });

    it('delivers the last events of a burst without waiting for ticker_max_lag while the consumer waits', async () => {
      await createQueue(db.pool, 'burst', { config: quiet });
      await registerConsumer(db.pool, 'burst', 'c');
      tickers.push(new Ticker({ connectionString: db.url }, { tickIntervalMs: 20 }).start());
      const c = collect('burst');
      try {
        const producer = new Producer(db.pool, { queue: 'burst' });
        for (let round = 0; round < 3; round++) {
          await producer.insertMany(Array.from({ length: 5 }, (_, i) => ({ type: 'e', payload: { round, i } })));
          await until(() => c.got.length === (round + 1) * 5, `burst ${round} delivered`, 10_000);
        }
      } finally {
        await c.stop();
      }
    });

    it('gives an idle queue no ticks while the rest of the database is busy', async () => {
      await createQueue(db.pool, 'idle', { config: { ...quiet, ticker_max_lag: 1 } });
      await registerConsumer(db.pool, 'idle', 'c'); // at the newest tick: waiting
      await createQueue(db.pool, 'other', { config: { ticker_max_lag: 1 } });
      await db.pool.query('CREATE TABLE IF NOT EXISTS unrelated (n int)');
      const ticker = new Ticker({ connectionString: db.url }, { tickIntervalMs: 10 }).start();
      tickers.push(ticker);
      const producer = new Producer(db.pool, { queue: 'other' });
      const writer = await db.connect();
      try {
        // The last tick of the idle queue is made while an unrelated transaction is open,
        // and the consumer is at it (waiting).
        await writer.query('BEGIN');
        await writer.query('INSERT INTO unrelated VALUES (0)');
        await db.pool.query('SELECT pg_current_xact_id()');
        const before = await forceTick(db.pool, 'idle');
        for (let b; (b = await nextBatch(db.pool, 'idle', 'c')); ) await finishBatch(db.pool, b);
        await writer.query('COMMIT');
        const end = Date.now() + 1500;
        for (let n = 0; Date.now() < end; n++) {
          // Transactions open across ticks of the other queue, committing and rolling back,
          // some writing events into the other queue.
          await writer.query('BEGIN');
          await writer.query('INSERT INTO unrelated VALUES ($1)', [n]);
          if (n % 2) await producer.insert('e', { n }, { client: writer });
          await new Promise((r) => setTimeout(r, 15));
          await writer.query(n % 3 ? 'COMMIT' : 'ROLLBACK');
        }
        expect(ticker.stats.ticks).toBeGreaterThan(0); // the other queue ticked
        expect((await getQueueInfo(db.pool, 'idle'))[0]!.lastTickId).toBe(before);
      } finally {
        await writer.end();
      }
    });
  });
});
