/**
 * A branch's queue (insert_events_raw + tick_external): copied batch by batch from a
 * provider queue while producers commit, roll back and hold transactions open across
 * ticks, it delivers the same batches, tick for tick, as the provider's queue. So a
 * consumer can move between them at any tick. Plus the refusals that keep a branch's
 * queue consistent.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  type Ev,
  connect,
  createQueue,
  expectSqlError,
  finishBatch,
  insertEvent,
  nextBatch,
  register,
  rng,
  rows,
  tick,
  value,
} from './helpers.js';

const db = useTestDatabase();

interface TickRow {
  tick_id: string;
  tick_time: Date;
  tick_event_seq: string;
}

const tickRow = (queue: string, id: string) =>
  rows<TickRow>(
    db.pool,
    `SELECT tick_id::text, tick_time, tick_event_seq::text FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue
      WHERE q.queue_name = $1 AND t.tick_id = $2`,
    [queue, id],
  ).then((r) => r[0]!);

const EVENT_COLS = `ev_id::text, ev_time, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4`;

/** Every batch of `consumer` as (tick id -> events), finishing each. */
async function drainByTick(queue: string, consumer: string): Promise<Map<string, unknown[]>> {
  const out = new Map<string, unknown[]>();
  for (;;) {
    const batch = await nextBatch(db.pool, queue, consumer);
    if (batch === null) return out;
    const [info] = await rows<{ tick_id: string }>(db.pool, 'SELECT tick_id::text FROM pgferry.get_batch_info($1)', [batch]);
    out.set(info!.tick_id, await rows(db.pool, `SELECT ${EVENT_COLS} FROM pgferry.get_batch_events($1) ORDER BY ev_id`, [batch]));
    await finishBatch(db.pool, batch);
  }
}

describe('a branch queue copies its provider queue', () => {
  it('delivers the same batches, tick for tick, under commits, rollbacks and long transactions', async () => {
    await createQueue(db.pool, 'prov');
    await createQueue(db.pool, 'br');
    await register(db.pool, 'prov', 'branch');
    await register(db.pool, 'prov', 'direct');
    const [start] = await rows<TickRow>(
      db.pool,
      `SELECT tick_id::text, tick_time, tick_event_seq::text FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue
        WHERE q.queue_name = 'prov' ORDER BY tick_id DESC LIMIT 1`,
    );
    expect(await value(db.pool, 'SELECT pgferry.branch_queue_start($1, $2, $3, $4)', ['br', start!.tick_id, start!.tick_time, start!.tick_event_seq])).toBe(1);
    await register(db.pool, 'br', 'below');

    // The application cannot write into the branch's queue.
    await expectSqlError(insertEvent(db.pool, 'br', 'x', 'y'), 'PF006', /disabled/);

    const random = rng(7);
    const writers = await Promise.all([connect(db.url), connect(db.url), connect(db.url)]);
    const long = await connect(db.url);
    const copier = await connect(db.url);
    try {
      await long.query('BEGIN');
      await insertEvent(long, 'prov', 'long', 'held-open');
      let n = 0;
      for (let round = 0; round < 30; round++) {
        await Promise.all(
          writers.map(async (w, i) => {
            await w.query('BEGIN');
            for (let k = 0; k < 1 + Math.floor(random() * 4); k++) await insertEvent(w, 'prov', 'ev', `w${i}-${n++}`, `t${i}`);
            await w.query(random() < 0.25 ? 'ROLLBACK' : 'COMMIT');
          }),
        );
        if (round === 20) await long.query('COMMIT');
        await tick(db.pool, 'prov');
        // The branch's worker: copy the batch in one transaction, tick in the next, finish.
        for (;;) {
          const batch = await nextBatch(copier, 'prov', 'branch');
          if (batch === null) break;
          const [info] = await rows<{ tick_id: string; batch_end: Date; seq_end: string }>(
            copier, 'SELECT tick_id::text, batch_end, seq_end::text FROM pgferry.get_batch_info($1)', [batch],
          );
          const events = await rows<Ev & { ev_time: Date; ev_extra3: null; ev_extra4: null }>(
            copier, `SELECT ${EVENT_COLS} FROM pgferry.get_batch_events($1) ORDER BY ev_id`, [batch],
          );
          await copier.query('BEGIN');
          await copier.query('SELECT pgferry.insert_events_raw($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
            'br', events.map((e) => e.ev_id), events.map((e) => e.ev_time), events.map((e) => e.ev_type),
            events.map((e) => e.ev_data), events.map((e) => e.ev_extra1), events.map((e) => e.ev_extra2),
            events.map(() => null), events.map(() => null),
          ]);
          await copier.query('COMMIT');
          const args = ['br', info!.tick_id, info!.batch_end, info!.seq_end];
          expect(await value<string>(copier, 'SELECT pgferry.tick_external($1, $2, $3, $4)::text', args)).toBe(info!.tick_id);
          // Again, as a worker that crashed before it knew the tick was made: the same tick.
          expect(await value<string>(copier, 'SELECT pgferry.tick_external($1, $2, $3, $4)::text', args)).toBe(info!.tick_id);
          await finishBatch(copier, batch);
        }
      }
    } finally {
      for (const c of [...writers, long, copier]) await c.end();
    }

    const direct = await drainByTick('prov', 'direct');
    const below = await drainByTick('br', 'below');
    expect([...below.keys()]).toEqual([...direct.keys()]);
    expect(below).toEqual(direct);
    const all = [...direct.values()].flat() as { ev_data: string }[];
    expect(all.some((e) => e.ev_data === 'held-open')).toBe(true);
    expect(all.length).toBeGreaterThan(50);
    // Ticks keep the provider's time and event counter; the counters moved up to them.
    const lastId = [...direct.keys()].at(-1)!;
    const [p, b] = [await tickRow('prov', lastId), await tickRow('br', lastId)];
    expect(b.tick_time).toEqual(p.tick_time);
    expect(b.tick_event_seq).toBe(p.tick_event_seq);
    const seq = await value<string>(db.pool, `SELECT pgferry._event_seq_value(queue_event_seq)::text FROM pgferry.queue WHERE queue_name = 'br'`);
    expect(BigInt(seq)).toBeGreaterThanOrEqual(BigInt(p.tick_event_seq));
  });

  it('refuses what would make a branch queue differ from its provider', async () => {
    await createQueue(db.pool, 'own');
    await expectSqlError(db.pool.query(`SELECT pgferry.insert_events_raw('own', '{1}', ARRAY[now()], '{x}', '{y}', '{NULL}', '{NULL}', '{NULL}', '{NULL}')`), 'PF006', /not a branch/);
    await expectSqlError(db.pool.query(`SELECT pgferry.tick_external('own', 1000, now(), 0)`), 'PF006', /own ticker/);
    await insertEvent(db.pool, 'own', 'x', 'y');
    await expectSqlError(db.pool.query(`SELECT pgferry.branch_queue_start('own', 1000, now(), 0)`), 'PF006', /in use/);

    await createQueue(db.pool, 'br2');
    await db.pool.query(`SELECT pgferry.branch_queue_start('br2', 5000, now(), 10)`);
    await db.pool.query(`SELECT pgferry.tick_external('br2', 5002, now(), 12)`);
    await expectSqlError(db.pool.query(`SELECT pgferry.tick_external('br2', 5001, now(), 11)`), 'PF006', /older than its last tick 5002/);
    await expectSqlError(
      db.pool.query(`SELECT pgferry.insert_events_raw('br2', '{1,2}', ARRAY[now()], '{x,x}', '{y,y}', '{NULL,NULL}', '{NULL,NULL}', '{NULL,NULL}', '{NULL,NULL}')`),
      'PF003',
    );
    // The ordinary ticker leaves a branch's queue alone.
    expect(await value(db.pool, `SELECT pgferry.ticker('br2')`)).toBeNull();
  });
});
