/**
 * The real `pgferry` binary against real PostgreSQL: consumer commands (register, list,
 * lag checks, unregister) and rewinding a consumer within what the queue still holds.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  Producer,
  createQueue,
  finishBatch,
  forceTick,
  getConsumerInfo,
  listTicks,
  nextBatch,
  registerConsumer,
  runMaintenance,
  setQueueConfig,
  withClient,
} from '../src/index.js';
import { pgferry, pgferryJson } from './cli-helpers.js';

describe('pgferry CLI: consumers', () => {
  const db = useTestDatabase();

  it('registers consumers, shows their lag and pending events, and fails a lag check', async () => {
    await createQueue(db.pool, 'jobs');
    const reg = await pgferry(['consumer', 'register', 'jobs', 'worker', '--db', db.url]);
    expect(reg).toMatchObject({ code: 0, stdout: 'consumer "worker" registered on queue "jobs"\n' });
    await new Producer(db.pool, { queue: 'jobs' }).insertMany(
      Array.from({ length: 4 }, (_, i) => ({ type: 'job', payload: { i } })),
    );
    await forceTick(db.pool, 'jobs');

    await new Promise((r) => setTimeout(r, 50));
    const list = await pgferryJson<{ consumerName: string; pendingEvents: number; ticksBehind: number; pendingAgeSeconds: number }[]>([
      'consumer', 'list', 'jobs', '--db', db.url,
    ]);
    expect(list).toMatchObject([{ consumerName: 'worker', pendingEvents: 4, ticksBehind: 1 }]);
    expect(list[0]!.pendingAgeSeconds).toBeGreaterThanOrEqual(0.05);

    const status = await pgferryJson<{ queueName: string; consumerList: { consumerName: string }[] }>([
      'queue', 'status', 'jobs', '--db', db.url,
    ]);
    expect(status.queueName).toBe('jobs');
    expect(status.consumerList.map((c) => c.consumerName)).toEqual(['worker']);

    const lag = await pgferry(['consumer', 'lag', 'jobs', '--max-pending', '2', '--db', db.url]);
    expect(lag.code).toBe(1);
    expect(lag.stdout).toMatch(/^QUEUE\s+CONSUMER\s+LAG\s+LAG \(S\)\s+PENDING AGE\s+PENDING\s+TICKS BEHIND\s+STATUS/);
    expect(lag.stdout).toMatch(/jobs\s+worker\s+.*\s4\s+1\s+OVER/);
    expect(lag.stderr).toContain('consumer "worker" on queue "jobs"');
    const ok = await pgferry(['consumer', 'lag', 'jobs', '--max-pending', '10', '--db', db.url]);
    expect(ok.code).toBe(0);
    // The oldest pending event's age: over 0 s now; 0 once consumed, however old the last tick.
    expect((await pgferry(['consumer', 'lag', 'jobs', '--max-pending-age', '0', '--db', db.url])).code).toBe(1);
    for (let b; (b = await nextBatch(db.pool, 'jobs', 'worker')); ) await finishBatch(db.pool, b);
    const caughtUp = await pgferry(['consumer', 'lag', 'jobs', '--max-pending-age', '0', '--json', '--db', db.url]);
    expect(caughtUp.code).toBe(0);
    expect(JSON.parse(caughtUp.stdout)).toMatchObject([{ consumer: 'worker', pendingAgeSeconds: 0 }]);

    const unreg = await pgferry(['consumer', 'unregister', 'jobs', 'worker', '--db', db.url]);
    expect(unreg.code).toBe(0);
    const gone = await pgferry(['consumer', 'unregister', 'jobs', 'worker', '--db', db.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('worker');
  });

  it('rewinds a consumer to a tick or a time, and says when the queue no longer holds it', { timeout: 240_000 }, async () => {
    await createQueue(db.pool, 'feed');
    await registerConsumer(db.pool, 'feed', 'reader');
    const producer = new Producer(db.pool, { queue: 'feed' });
    for (let i = 0; i < 3; i++) {
      await producer.insert('e', { i });
      await forceTick(db.pool, 'feed');
      await new Promise((r) => setTimeout(r, 30)); // ticks a few ms apart: a time can fall between them
    }
    // Consume everything.
    for (;;) {
      const b = await nextBatch(db.pool, 'feed', 'reader');
      if (!b) break;
      await finishBatch(db.pool, b);
    }
    const ticks = await pgferryJson<{ tickId: string; time: string; available: boolean }[]>(['queue', 'ticks', 'feed', '--db', db.url]);
    expect(ticks).toHaveLength(4);
    expect(ticks.every((t) => t.available)).toBe(true);
    // Tick ids are drawn from one sequence for all queues: newest first.
    const [t4, t3, t2, t1] = ticks.map((t) => t.tickId) as [string, string, string, string];

    const toTick = await pgferryJson<{ fromTick: string; toTick: string }>(['consumer', 'rewind', 'feed', 'reader', '--tick', t2, '--db', db.url]);
    expect(toTick).toMatchObject({ fromTick: t4, toTick: t2 });
    expect((await getConsumerInfo(db.pool, 'feed', 'reader'))[0]).toMatchObject({ lastTick: t2, pendingEvents: 2 });

    // A time between tick 3 and tick 4 picks tick 3 (the latest at or before it). Times are
    // shown to the millisecond, so +5 ms is past tick 3 and well before tick 4.
    const between = new Date(new Date(ticks[1]!.time).getTime() + 5);
    const toTime = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--time', between.toISOString(), '--db', db.url]);
    expect(toTime.code).toBe(0);
    expect(toTime.stdout).toContain(`moved from tick ${t2} to tick ${t3}`);

    const before = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--time', '2000-01-01T00:00:00Z', '--db', db.url]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('queue "feed" no longer holds the events after 2000-01-01T00:00:00Z');
    expect(before.stderr).toContain(`the oldest point it can rewind to is tick ${t1}`);

    const future = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--tick', '999999', '--db', db.url]);
    expect(future.code).toBe(1);
    expect(future.stderr).toContain('has no tick 999999');

    // Rotate the event tables until tick 1's events are gone: bounded by time, not by rounds
    // (a rotation waits for its period and for older transactions; a busy machine is slower).
    await setQueueConfig(db.pool, 'feed', { rotation_period: 1 });
    const t1Available = async () => (await listTicks(db.pool, 'feed', { limit: 1000 })).some((t) => t.tickId === t1 && t.available);
    for (const deadline = Date.now() + 120_000; Date.now() < deadline && (await t1Available()); ) {
      await new Promise((r) => setTimeout(r, 50));
      await producer.insert('e', { at: Date.now() });
      await forceTick(db.pool, 'feed');
      for (;;) {
        const b = await nextBatch(db.pool, 'feed', 'reader');
        if (!b) break;
        await finishBatch(db.pool, b);
      }
      await withClient(db.pool, (c) => runMaintenance(c));
    }
    expect(await t1Available(), `tick ${t1}'s events still held after 120 s of rotations`).toBe(false);
    const gone = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--tick', t1, '--db', db.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no longer holds the events after tick ${t1}: the oldest point it can rewind to is tick`);
    const oldest = Number(/rewind to is tick (\d+)/.exec(gone.stderr)![1]);
    expect(oldest).toBeGreaterThan(Number(t4));
    // ... and that oldest tick is indeed accepted.
    const okOldest = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--tick', String(oldest), '--db', db.url]);
    expect(okOldest.code).toBe(0);

    const unknownConsumer = await pgferry(['consumer', 'rewind', 'feed', 'nobody', '--tick', t2, '--db', db.url]);
    expect(unknownConsumer.code).toBe(1);
    expect(unknownConsumer.stderr).toContain('consumer "nobody" is not registered on queue "feed"');
  });
});
