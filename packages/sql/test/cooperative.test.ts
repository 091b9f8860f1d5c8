/**
 * Cooperative consumers: sub-consumers take different batches from their consumer's
 * position, together see every event exactly once, and a sub-consumer silent longer than
 * dead_interval loses its batch to a sibling (new batch id; its finish_batch fails, PF005).
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  type Db,
  batchEvents,
  connectMany,
  createQueue,
  endAll,
  expectSqlError,
  finishBatch,
  insertEvent,
  readBatch,
  sleep,
  tick,
  value,
} from './helpers.js';

const Q = 'coop';

async function subNext(db: Db, sub: string, deadInterval: string | null = null): Promise<string | null> {
  return value<string | null>(db, `SELECT pgferry.next_batch($1, 'workers', $2, $3::interval)`, [Q, sub, deadInterval]);
}

describe('cooperative consumers', () => {
  const db = useTestDatabase();

  it('give sub-consumers different batches that together hold every event exactly once', async () => {
    await createQueue(db.pool, Q);
    for (const s of ['w1', 'w2', 'w3']) {
      expect(await value<number>(db.pool, `SELECT pgferry.register_subconsumer($1, 'workers', $2)`, [Q, s])).toBe(1);
    }
    expect(await value<number>(db.pool, `SELECT pgferry.register_subconsumer($1, 'workers', 'w1')`, [Q])).toBe(0);
    await expectSqlError(
      db.pool.query(`SELECT pgferry.next_batch($1, 'workers')`, [Q]),
      'PF006',
      /consumer "workers" on queue "coop" is cooperative/,
    );

    // Three ticks' worth of events: each sub-consumer holds a different batch at once.
    const all: string[] = [];
    for (let t = 0; t < 3; t++) {
      for (let i = 0; i < 4; i++) {
        const d = `t${t}-${i}`;
        await insertEvent(db.pool, Q, 'x', d);
        all.push(d);
      }
      await tick(db.pool, Q);
    }
    const held = [await subNext(db.pool, 'w1'), await subNext(db.pool, 'w2'), await subNext(db.pool, 'w3')];
    expect(held.every((b) => b !== null)).toBe(true);
    expect(new Set(held).size).toBe(3);
    expect(await subNext(db.pool, 'w1')).toBe(held[0]); // the same batch until finished
    const parts = await Promise.all(held.map((b) => batchEvents(db.pool, b!)));
    expect(parts.map((p) => p.map((e) => e.ev_data))).toEqual([all.slice(0, 4), all.slice(4, 8), all.slice(8, 12)]);
    for (const b of held) expect(await finishBatch(db.pool, b!)).toBe(1);

    // Now concurrently, with producers and a ticker running.
    const conns = await connectMany(db.url, 3 + 2 + 1);
    const [s1, s2, s3, p1, p2, ticker] = conns as [pg.Client, ...pg.Client[]];
    let producing = true;
    let finalTick = false;
    const produced: string[] = [];
    try {
      const produce = async (c: pg.Client, p: number) => {
        for (let j = 0; j < 80; j++) {
          await c.query('BEGIN');
          await insertEvent(c, Q, 'x', `p${p}-${j}`);
          if (j % 6 === 5) {
            await c.query('ROLLBACK');
          } else {
            await c.query('COMMIT');
            produced.push(`p${p}-${j}`);
          }
        }
      };
      const ticks = async () => {
        while (producing) {
          await tick(ticker!, Q);
          await sleep(2);
        }
      };
      const work = async (c: pg.Client, sub: string) => {
        const got: { batch: string; data: string[] }[] = [];
        for (;;) {
          const stopping = finalTick;
          const batch = await subNext(c, sub, '1 hour');
          if (batch === null) {
            if (stopping) return got;
            await sleep(2);
            continue;
          }
          const events = await readBatch(c, batch, sub === 'w2' ? 'cursor' : 'events');
          got.push({ batch, data: events.map((e) => e.ev_data!) });
          expect(await finishBatch(c, batch)).toBe(1);
        }
      };
      const bg = ticks();
      const workers = Promise.all([work(s1!, 'w1'), work(s2!, 'w2'), work(s3!, 'w3')]);
      await Promise.all([produce(p1!, 1), produce(p2!, 2)]);
      producing = false;
      await bg;
      await tick(db.pool, Q);
      finalTick = true;
      const results = await workers;
      const batches = results.flat();
      expect(new Set(batches.map((b) => b.batch)).size).toBe(batches.length);
      const seen = batches.flatMap((b) => b.data).sort();
      expect(seen).toEqual([...produced].sort());
      // More than one sub-consumer did work.
      expect(results.filter((r) => r.some((b) => b.data.length > 0)).length).toBeGreaterThan(1);
    } finally {
      producing = false;
      await endAll(conns);
    }
  });

  it('hands the batch of a sub-consumer silent longer than dead_interval to another one', async () => {
    for (const d of ['a', 'b', 'c']) await insertEvent(db.pool, Q, 'x', d);
    await tick(db.pool, Q);
    const stale = (await subNext(db.pool, 'w1'))!;
    expect(stale).not.toBeNull();
    const staleEvents = await batchEvents(db.pool, stale);
    expect(staleEvents.map((e) => e.ev_data)).toEqual(['a', 'b', 'c']);
    await expectSqlError(
      db.pool.query(`SELECT pgferry.unregister_subconsumer($1, 'workers', 'w1')`, [Q]),
      'PF006',
      new RegExp(`sub-consumer "w1" of "workers" holds batch ${stale}`),
    );

    // Not silent long enough: w2 gets nothing (no new tick), not w1's batch.
    expect(await subNext(db.pool, 'w2', '1 hour')).toBeNull();
    await sleep(60);
    const taken = (await subNext(db.pool, 'w2', '50 milliseconds'))!;
    expect(taken).not.toBeNull();
    expect(taken).not.toBe(stale);
    expect(await batchEvents(db.pool, taken)).toEqual(staleEvents);
    // The old holder finds its batch gone.
    const lost = await expectSqlError(db.pool.query('SELECT pgferry.finish_batch($1)', [stale]), 'PF005', /is not open/);
    expect(lost.hint).toMatch(/taken over by another sub-consumer/);
    await expectSqlError(db.pool.query('SELECT * FROM pgferry.get_batch_events($1)', [stale]), 'PF005');
    expect(await finishBatch(db.pool, taken)).toBe(1);
    // Nothing was skipped or repeated: the next events come next, to whoever asks.
    await insertEvent(db.pool, Q, 'x', 'd');
    await tick(db.pool, Q);
    const next = (await subNext(db.pool, 'w1'))!;
    expect((await batchEvents(db.pool, next)).map((e) => e.ev_data)).toEqual(['d']);
    expect(await finishBatch(db.pool, next)).toBe(1);
    expect(await value<number>(db.pool, `SELECT pgferry.unregister_subconsumer($1, 'workers', 'w1')`, [Q])).toBe(1);
    expect(await value<string>(db.pool, `SELECT count(*) FROM pgferry.get_consumer_info($1, 'workers')`, [Q])).toBe('3');
  });
});
