/**
 * Batches under real concurrency: several producer connections committing, rolling back
 * and rolling back to savepoints, long transactions held open across many ticks, two
 * tickers at once, and three consumers each reading batches a different way.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  type Delivery,
  type ReadMode,
  connect,
  connectMany,
  createQueue,
  endAll,
  expectSqlError,
  finishBatch,
  insertEvent,
  killConnection,
  nextBatch,
  readBatch,
  register,
  rng,
  sleep,
  tick,
  rows,
  value,
} from './helpers.js';

/** Every check that must hold for one consumer's deliveries. */
function checkDeliveries(name: string, deliveries: Delivery[], committed: Map<string, string>, rolledBack: Set<string>) {
  const seen = new Set<string>();
  const batchOfTag = new Map<string, string>();
  const txidOfTag = new Map<string, string>();
  for (const d of deliveries) {
    const ids = d.events.map((e) => BigInt(e.ev_id));
    const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(ids, `${name}: batch ${d.batch} ordered by ev_id`).toEqual(sorted);
    for (const e of d.events) {
      const data = e.ev_data!;
      expect(rolledBack.has(data), `${name}: rolled-back event ${data} delivered`).toBe(false);
      expect(seen.has(data), `${name}: ${data} delivered twice`).toBe(false);
      seen.add(data);
      const tag = e.ev_extra1!;
      expect(committed.get(data)).toBe(tag);
      const b = batchOfTag.get(tag);
      expect(b === undefined || b === d.batch, `${name}: transaction ${tag} split over batches ${b} and ${d.batch}`).toBe(
        true,
      );
      batchOfTag.set(tag, d.batch);
      const t = txidOfTag.get(tag);
      expect(t === undefined || t === e.ev_txid, `${name}: one txid per transaction`).toBe(true);
      txidOfTag.set(tag, e.ev_txid);
    }
  }
  const missing = [...committed.keys()].filter((k) => !seen.has(k));
  expect(missing, `${name}: committed events never delivered`).toEqual([]);
  expect(seen.size).toBe(committed.size);
}

describe('batches', () => {
  const db = useTestDatabase();

  it('deliver every committed event exactly once to every consumer, never a rolled-back one, never splitting a transaction', async () => {
    const Q = 'conc';
    await createQueue(db.pool, Q);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_count', '4')`, [Q]);
    const consumers: { name: string; mode: ReadMode }[] = [
      { name: 'by_events', mode: 'events' },
      { name: 'by_cursor', mode: 'cursor' },
      { name: 'by_sql', mode: 'sql' },
    ];
    for (const c of consumers) await register(db.pool, Q, c.name);

    const committed = new Map<string, string>(); // ev_data -> producer transaction tag
    const rolledBack = new Set<string>();
    const producers = await connectMany(db.url, 4);
    const longConns = await connectMany(db.url, 2);
    const tickers = await connectMany(db.url, 2);
    const consumerConns = await connectMany(db.url, consumers.length);
    let ticks = 0;
    const spans: string[] = [];
    let producing = true;
    let finalTickMade = false;

    try {
      const produce = async (c: pg.Client, p: number) => {
        const rand = rng(1000 + p);
        for (let j = 0; j < 50; j++) {
          const tag = `p${p}-${j}`;
          const kept: string[] = [];
          const lost: string[] = [];
          let n = 0;
          const ev = () => `${tag}-e${n++}`;
          await c.query('BEGIN');
          if (rand() < 0.3) {
            // set-based insert
            const datas = [ev(), ev(), ev()];
            await c.query(`SELECT pgferry.insert_events($1, ARRAY['bulk'], $2, $3)`, [Q, datas, datas.map(() => tag)]);
            kept.push(...datas);
          } else {
            for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
              const d = ev();
              await insertEvent(c, Q, 'one', d, tag);
              kept.push(d);
            }
          }
          if (rand() < 0.4) {
            await c.query('SAVEPOINT sp');
            for (let k = 0; k < 2; k++) {
              const d = ev();
              await insertEvent(c, Q, 'sp', d, tag);
              lost.push(d);
            }
            await c.query('ROLLBACK TO SAVEPOINT sp');
            const d = ev();
            await insertEvent(c, Q, 'after-sp', d, tag);
            kept.push(d);
          }
          if (rand() < 0.5) await sleep(Math.floor(rand() * 3));
          if (rand() < 0.25) {
            await c.query('ROLLBACK');
            lost.push(...kept);
          } else {
            await c.query('COMMIT');
            for (const d of kept) committed.set(d, tag);
          }
          for (const d of lost) rolledBack.add(d);
        }
      };

      // Held open across many ticks, then committed (L-commit) or rolled back (L-rollback).
      const longTx = async (c: pg.Client, tag: string, commit: boolean) => {
        await c.query('BEGIN');
        const mine = [`${tag}-a`, `${tag}-b`];
        for (const d of mine) await insertEvent(c, Q, 'long', d, tag);
        const until = ticks + 15;
        while (ticks < until) await sleep(5);
        mine.push(`${tag}-c`);
        await insertEvent(c, Q, 'long', `${tag}-c`, tag);
        if (commit) {
          await c.query('COMMIT');
          for (const d of mine) committed.set(d, tag);
        } else {
          await c.query('ROLLBACK');
          for (const d of mine) rolledBack.add(d);
        }
      };

      // Two tickers at once: the rule-based ticker and force_tick.
      const runTicker = async (c: pg.Client, force: boolean) => {
        while (producing) {
          const t = force ? await tick(c, Q) : await value<string | null>(c, 'SELECT pgferry.ticker($1)', [Q]);
          if (t !== null) ticks++;
          await sleep(force ? 4 : 1);
        }
      };

      const consume = async (c: pg.Client, name: string, mode: ReadMode) => {
        const out: Delivery[] = [];
        for (;;) {
          const stopping = finalTickMade;
          const batch = await nextBatch(c, Q, name);
          if (batch === null) {
            if (stopping) return out;
            await sleep(3);
            continue;
          }
          const info = await rows<{ prev_tick_id: string; tick_id: string }>(
            c,
            'SELECT prev_tick_id, tick_id FROM pgferry.get_batch_info($1)',
            [batch],
          );
          spans.push(`${name} batch ${batch}: ticks ${info[0]!.prev_tick_id}..${info[0]!.tick_id}`);
          const events = await readBatch(c, batch, mode);
          // The same batch until it is finished.
          expect(await nextBatch(c, Q, name)).toBe(batch);
          expect(await finishBatch(c, batch)).toBe(1);
          // Finished twice: an error, not a silent 0 (a caller must not commit as if it closed it).
          await expectSqlError(c.query('SELECT pgferry.finish_batch($1)', [batch]), 'PF005', /is not open/);
          out.push({ batch, events });
        }
      };

      const tickersDone = Promise.all([runTicker(tickers[0]!, false), runTicker(tickers[1]!, true)]);
      const consumed = Promise.all(consumers.map((c, i) => consume(consumerConns[i]!, c.name, c.mode)));
      await Promise.all([
        ...producers.map((c, i) => produce(c, i)),
        longTx(longConns[0]!, 'L-commit', true),
        longTx(longConns[1]!, 'L-rollback', false),
      ]);
      producing = false;
      await tickersDone;
      await tick(db.pool, Q);
      finalTickMade = true;
      const results = await consumed;

      expect(ticks).toBeGreaterThan(15);
      expect(committed.size).toBeGreaterThan(100);
      expect(rolledBack.size).toBeGreaterThan(20);
      expect([...committed.values()]).toContain('L-commit');
      const missingTxids = await rows<{ ev_data: string; ev_txid: string }>(
        db.pool,
        `SELECT ev_data, ev_txid::text FROM pgferry.event WHERE ev_data = ANY ($1) ORDER BY ev_id`,
        [[...committed.keys()].filter((k) => !results.every((r) => r.some((d) => d.events.some((e) => e.ev_data === k))))],
      );
      if (missingTxids.length > 0) {
        const ticksDump = await rows(db.pool, 'SELECT tick_id, tick_snapshot::text FROM pgferry.tick ORDER BY tick_id');
        console.error(JSON.stringify({ missingTxids, ticksDump, spans }, null, 1));
      }
      consumers.forEach((c, i) => checkDeliveries(c.name, results[i]!, committed, rolledBack));
      // The consumers took the same tick ranges: the same events in the same batches.
      const shape = (ds: Delivery[]) => ds.map((d) => d.events.map((e) => e.ev_id).join(',')).filter((s) => s);
      expect(shape(results[1]!)).toEqual(shape(results[0]!));
      expect(shape(results[2]!)).toEqual(shape(results[0]!));
    } finally {
      producing = false;
      await endAll([...producers, ...longConns, ...tickers, ...consumerConns]);
    }
  });

  it('give a consumer that died between next_batch and finish_batch the same batch again', async () => {
    const Q = 'dying';
    await createQueue(db.pool, Q);
    await register(db.pool, Q, 'worker');
    for (let i = 0; i < 5; i++) await insertEvent(db.pool, Q, 't', `d${i}`);
    await tick(db.pool, Q);

    // Dies after next_batch (autocommit) and reading: the batch stays assigned.
    const first = await connect(db.url);
    const batch = (await nextBatch(first, Q, 'worker'))!;
    expect(batch).not.toBeNull();
    const events = await readBatch(first, batch, 'events');
    expect(events.map((e) => e.ev_data)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    await killConnection(db.pool, first);

    // More events and ticks meanwhile do not change the open batch.
    await insertEvent(db.pool, Q, 't', 'later');
    await tick(db.pool, Q);
    const second = await connect(db.url);
    try {
      expect(await nextBatch(second, Q, 'worker')).toBe(batch);
      expect(await readBatch(second, batch, 'cursor')).toEqual(events);

      // Dies inside its processing transaction: finish_batch is rolled back with it.
      const third = await connect(db.url);
      await third.query('BEGIN');
      expect(await nextBatch(third, Q, 'worker')).toBe(batch);
      expect(await finishBatch(third, batch)).toBe(1);
      await killConnection(db.pool, third);

      expect(await nextBatch(second, Q, 'worker')).toBe(batch);
      expect(await finishBatch(second, batch)).toBe(1);
      const next = (await nextBatch(second, Q, 'worker'))!;
      expect(next).not.toBe(batch);
      expect((await readBatch(second, next, 'sql')).map((e) => e.ev_data)).toEqual(['later']);
      expect(await finishBatch(second, next)).toBe(1);
      expect(await nextBatch(second, Q, 'worker')).toBeNull();
    } finally {
      await second.end();
    }
  });
});
