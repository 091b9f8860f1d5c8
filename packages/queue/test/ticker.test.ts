import { afterEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Consumer, Producer, Ticker, createQueue, registerConsumer, getQueueInfo } from '../src/index.js';

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
});
