/**
 * The TypeScript API and the CLI as a non-superuser pgferry_admin, and consumers as a
 * pgferry_reader (which owns what it registers and is refused another role's consumer with
 * a typed PermissionDeniedError).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  Consumer,
  PermissionDeniedError,
  Producer,
  createQueue,
  dropQueue,
  forceTick,
  getConsumerInfo,
  getQueueInfo,
  listDeadLetters,
  listTicks,
  purgeDeadLetters,
  registerConsumer,
  registerConsumerAt,
  replayDeadLetters,
  runMaintenance,
  setQueueConfig,
  tick,
  unregisterConsumer,
} from '../src/index.js';
import { pgferryJson } from './cli-helpers.js';

const suffix = randomBytes(4).toString('hex');
const ADMIN = `pf_q_admin_${suffix}`;
const READER = `pf_q_reader_${suffix}`;
const OTHER = `pf_q_other_${suffix}`;

describe('roles through the TypeScript API and the CLI', () => {
  const db = useTestDatabase();
  const pools: pg.Pool[] = [];
  const poolAs = (role: string) => {
    const p = new pg.Pool({ connectionString: db.urlAs(role), max: 4 });
    p.on('error', () => undefined);
    pools.push(p);
    return p;
  };

  beforeAll(async () => {
    await db.pool.query(`CREATE ROLE ${ADMIN} LOGIN IN ROLE pgferry_admin;
      CREATE ROLE ${READER} LOGIN IN ROLE pgferry_reader; CREATE ROLE ${OTHER} LOGIN IN ROLE pgferry_reader`);
  });
  afterAll(async () => {
    for (const p of pools) await p.end();
    await db.pool.query(`DROP OWNED BY ${ADMIN}, ${READER}, ${OTHER}; DROP ROLE ${ADMIN}, ${READER}, ${OTHER}`);
  });

  it('an admin runs the whole cycle: queues, producing, consuming, ticker, maintenance, status, dead letters, CLI', async () => {
    const admin = poolAs(ADMIN);
    await createQueue(admin, 'orders');
    await setQueueConfig(admin, 'orders', { max_retries: 1 });
    await registerConsumer(admin, 'orders', 'billing');
    const producer = new Producer(admin, { queue: 'orders' });
    await producer.insert('created', { id: 1 });
    await producer.insertMany([{ type: 'created', payload: { id: 2 } }, { type: 'bad', payload: { id: 3 } }]);
    await forceTick(admin, 'orders');
    await tick(admin);
    const consumer = new Consumer(admin, { queue: 'orders', name: 'billing', listen: false });
    const seen: unknown[] = [];
    await consumer.run(async (batch) => {
      for await (const ev of batch.events()) {
        if (ev.type === 'bad') batch.deadLetter(ev, 'refused');
        else seen.push(ev.payload);
      }
    }, { untilIdle: true });
    await consumer.close();
    expect(seen).toEqual([{ id: 1 }, { id: 2 }]);
    expect((await listDeadLetters(admin, 'orders')).map((d) => d.reason)).toEqual(['refused']);
    expect(await replayDeadLetters(admin, 'orders', 'billing')).toBe(1);
    await runMaintenance(admin);
    expect(await purgeDeadLetters(admin, 'orders', { consumer: 'billing' })).toBe(0);
    expect((await getQueueInfo(admin, 'orders'))[0]).toMatchObject({ queueName: 'orders', consumers: 1 });
    expect((await getConsumerInfo(admin, 'orders', 'billing')).length).toBe(1);
    const ticks = await listTicks(admin, 'orders');
    await registerConsumerAt(admin, 'orders', 'billing', ticks[ticks.length - 1]!.tickId);

    const url = db.urlAs(ADMIN);
    expect(await pgferryJson<{ queueName: string }[]>(['queue', 'list', '--db', url])).toMatchObject([{ queueName: 'orders' }]);
    expect(await pgferryJson(['queue', 'status', 'orders', '--db', url])).toBeTruthy();
    expect(await pgferryJson<{ consumerName: string }[]>(['consumer', 'list', 'orders', '--db', url])).toMatchObject([{ consumerName: 'billing' }]);
    await pgferryJson(['tick', 'orders', '--force', '--db', url]);
    await pgferryJson(['maint', '--db', url]);
    await pgferryJson(['events', 'tail', 'orders', '-n', '5', '--db', url]);

    await unregisterConsumer(admin, 'orders', 'billing');
    await dropQueue(admin, 'orders');
  });

  it('a reader consumes with its own consumer, and gets PermissionDeniedError on another role\'s', async () => {
    await createQueue(db.pool, 'jobs');
    const reader = poolAs(READER);
    const other = poolAs(OTHER);
    const mine = new Consumer(reader, { queue: 'jobs', name: 'worker', listen: false });
    await mine.run(async () => undefined, { untilIdle: true }); // registers it, as READER
    await new Producer(db.pool, { queue: 'jobs' }).insert('j', 1);
    await forceTick(db.pool, 'jobs');
    const got: unknown[] = [];
    await mine.run(async (b) => {
      for await (const e of b.events()) got.push(e.payload);
    }, { untilIdle: true });
    await mine.close();
    expect(got).toEqual([1]);

    const theirs = new Consumer(other, { queue: 'jobs', name: 'worker', listen: false });
    await expect(theirs.run(async () => undefined, { untilIdle: true })).rejects.toBeInstanceOf(PermissionDeniedError);
    await theirs.close();
    await expect(unregisterConsumer(other, 'jobs', 'worker')).rejects.toBeInstanceOf(PermissionDeniedError);
  });
});
