import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  Batch,
  BatchLostError,
  BatchNotFoundError,
  Consumer,
  Producer,
  createQueue,
  finishBatch,
  forceTick,
  nextBatch,
  registerConsumer,
  registerSubconsumer,
  EventValidationError,
  QueueNotFoundError,
} from '../src/index.js';

describe('producer and consumer', () => {
  const db = useTestDatabase();

  it('delivers committed events once, in order, and finishes in the handler transaction', async () => {
    await createQueue(db.pool, 'orders');
    // fetchSize 4: the handler's queries run between reads of the batch's cursor (the next
    // rows are fetched while the handler works on these).
    const consumer = new Consumer(db.pool, { queue: 'orders', name: 'billing', listen: false, pollIntervalMs: 20, fetchSize: 4 });
    await registerConsumer(db.pool, 'orders', 'billing');
    await db.pool.query('CREATE TABLE billed (id int PRIMARY KEY)');
    const producer = new Producer(db.pool, { queue: 'orders' });
    for (let i = 0; i < 10; i++) await producer.insert('order', { id: i });
    const client = await db.pool.connect();
    await client.query('BEGIN');
    await producer.insert('order', { id: 999 }, { client });
    await client.query('ROLLBACK');
    client.release();
    await producer.insertMany(Array.from({ length: 5 }, (_, i) => ({ type: 'order', payload: { id: 10 + i } })));
    await forceTick(db.pool, 'orders');

    const ac = new AbortController();
    await consumer.run(
      async (batch) => {
        for await (const ev of batch.events()) {
          await batch.client.query('INSERT INTO billed VALUES ($1)', [(ev.payload as { id: number }).id]);
        }
        ac.abort();
      },
      { signal: ac.signal },
    );
    const { rows } = await db.pool.query<{ id: number }>('SELECT id FROM billed ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(consumer.stats.events).toBe(15);
    await consumer.close();
  });

  it('refuses bad payloads at insert and dead-letters them at consume', async () => {
    await createQueue(db.pool, 'typed');
    const schemas = { signup: z.object({ email: z.string().email() }) };
    const producer = new Producer(db.pool, { queue: 'typed', schemas });
    await expect(producer.insert('signup', { email: 'nope' })).rejects.toThrow(EventValidationError);
    await expect(producer.insert('signup', { email: 'nope' })).rejects.toThrow(/email/);
    const consumer = new Consumer(db.pool, { queue: 'typed', name: 'mailer', schemas, listen: false });
    await registerConsumer(db.pool, 'typed', 'mailer');
    await producer.insert('signup', { email: 'a@example.com' });
    await db.pool.query(`SELECT pgferry.insert_event('typed', 'signup', '{"email": 42}')`);
    await db.pool.query(`SELECT pgferry.insert_event('typed', 'signup', 'not json')`);
    await forceTick(db.pool, 'typed');
    const seen: string[] = [];
    for await (const b of consumer.batches()) {
      for await (const ev of b.events()) seen.push(ev.payload.email);
      const r = await b.finish();
      expect(r.deadLetters).toBe(2);
      break;
    }
    expect(seen).toEqual(['a@example.com']);
    const dl = await db.pool.query('SELECT dl_reason FROM pgferry.dead_letter ORDER BY dl_id');
    expect(dl.rows.map((r) => r.dl_reason)).toEqual([expect.stringMatching(/email/), expect.stringMatching(/not JSON/)]);
    await consumer.close();
  });

  it('names the queue in errors', async () => {
    const producer = new Producer(db.pool, { queue: 'missing' });
    await expect(producer.insert('x', 1)).rejects.toThrow(QueueNotFoundError);
    await expect(producer.insert('x', 1)).rejects.toThrow(/queue "missing" does not exist/);
  });
});

describe('cron-style draining', () => {
  const db = useTestDatabase();

  it('run({ untilIdle }) processes what was ticked and returns', async () => {
    await createQueue(db.pool, 'cron');
    await registerConsumer(db.pool, 'cron', 'job');
    const producer = new Producer(db.pool, { queue: 'cron' });
    for (let i = 0; i < 3; i++) {
      await producer.insert('e', i);
      await forceTick(db.pool, 'cron');
    }
    await producer.insert('e', 'after the last tick');
    const consumer = new Consumer(db.pool, { queue: 'cron', name: 'job', listen: false });
    const seen: unknown[] = [];
    await consumer.run(
      async (batch) => {
        for await (const ev of batch.events()) seen.push(ev.payload);
      },
      { untilIdle: true },
    );
    expect(seen).toEqual([0, 1, 2]);
    expect(consumer.stats.batches).toBe(3);
  });

  it('a handler that stops reading mid-batch (rows fetched ahead) and fails gets the whole batch again', async () => {
    await createQueue(db.pool, 'halfway');
    await registerConsumer(db.pool, 'halfway', 'job');
    await new Producer(db.pool, { queue: 'halfway' }).insertMany(Array.from({ length: 15 }, (_, i) => ({ type: 'e', payload: i })));
    await forceTick(db.pool, 'halfway');
    const consumer = new Consumer(db.pool, { queue: 'halfway', name: 'job', listen: false, fetchSize: 4 });
    const seen: unknown[] = [];
    const handler = (stopAt: number) => async (batch: Batch) => {
      for await (const ev of batch.events()) {
        if (seen.length === stopAt) throw new Error('handler gave up');
        seen.push(ev.payload);
      }
    };
    await expect(consumer.run(handler(5), { untilIdle: true })).rejects.toThrow('handler gave up');
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    seen.length = 0;
    await consumer.run(handler(-1), { untilIdle: true });
    expect(seen).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(db.pool.idleCount + db.pool.waitingCount).toBe(db.pool.totalCount);
  });

  it('refuses to finish a batch that is not open: BatchNotFoundError, or false with ifOpen', async () => {
    await createQueue(db.pool, 'twice');
    await registerConsumer(db.pool, 'twice', 'c');
    await new Producer(db.pool, { queue: 'twice' }).insert('t', { n: 1 });
    await forceTick(db.pool, 'twice');
    const b = (await nextBatch(db.pool, 'twice', 'c'))!;
    expect(await finishBatch(db.pool, b)).toBe(true);
    const err = await finishBatch(db.pool, b).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchNotFoundError);
    expect((err as BatchNotFoundError).code).toBe('PF005');
    expect((err as BatchNotFoundError).hint).toMatch(/finished already/);
    expect(await finishBatch(db.pool, b, { ifOpen: true })).toBe(false);
  });

  it('rolls back the work of a batch taken over by another sub-consumer: BatchLostError', async () => {
    await createQueue(db.pool, 'coop');
    await registerSubconsumer(db.pool, 'coop', 'workers', 'w1');
    await registerSubconsumer(db.pool, 'coop', 'workers', 'w2');
    await db.pool.query('CREATE TABLE coop_done (id int)');
    await new Producer(db.pool, { queue: 'coop' }).insert('t', { id: 1 });
    await forceTick(db.pool, 'coop');
    const slow = new Consumer(db.pool, { queue: 'coop', name: 'workers', subconsumer: 'w1', listen: false, pollIntervalMs: 20 });
    let taken: string | null = null;
    const run = slow.run(async (batch) => {
      for await (const ev of batch.events()) {
        await batch.client.query('INSERT INTO coop_done VALUES ($1)', [(ev.payload as { id: number }).id]);
      }
      // w1 went silent: w2 takes its batch over (under a new id) before w1 finishes.
      await new Promise((r) => setTimeout(r, 30));
      taken = await nextBatch(db.pool, 'coop', 'workers', { subconsumer: 'w2', deadIntervalMs: 10 });
    });
    await expect(run).rejects.toBeInstanceOf(BatchLostError);
    expect(taken).not.toBeNull();
    expect((await db.pool.query('SELECT * FROM coop_done')).rowCount).toBe(0);
    expect(await finishBatch(db.pool, taken!)).toBe(true);
    await slow.close();
  });
});
