/**
 * Maintenance and administration: tick cleanup keeps what consumers can still use, the
 * ticker's rules, concurrent queue creation, and dropping a queue with everything in it.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  connectMany,
  createQueue,
  dataOf,
  drain,
  endAll,
  expectSqlError,
  insertEvent,
  register,
  rotate,
  rows,
  tick,
  value,
} from './helpers.js';

describe('maintenance', () => {
  const db = useTestDatabase();

  it('deletes only ticks below every consumer and the data horizon', async () => {
    const Q = 'cleanup';
    await createQueue(db.pool, Q, 2);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'rotation_period', '1 millisecond')`, [Q]);
    await register(db.pool, Q, 'a');
    await register(db.pool, Q, 'b');
    const cleanup = () => value<number>(db.pool, 'SELECT pgferry.maint_tick_cleanup($1)', [Q]);
    for (let i = 0; i < 5; i++) {
      await insertEvent(db.pool, Q, 't', `e${i}`);
      await tick(db.pool, Q);
    }
    // No rotation yet: every event is still held, so every tick stays usable.
    expect(await cleanup()).toBe(0);
    const drainAll = () => Promise.all([drain(db.pool, Q, 'a'), drain(db.pool, Q, 'b')]);
    await drainAll();
    await rotate(db.pool, Q, drainAll);
    await rotate(db.pool, Q, drainAll);
    await insertEvent(db.pool, Q, 't', 'last');
    await tick(db.pool, Q);
    expect(dataOf(await drain(db.pool, Q, 'a'))).toEqual(['last']);
    // 'b' is behind 'a': its position and everything after it is kept.
    const bTick = await value<string>(db.pool, `SELECT last_tick FROM pgferry.get_consumer_info($1, 'b')`, [Q]);
    expect(await cleanup()).toBeGreaterThan(0);
    const kept = await rows<{ tick_id: string }>(db.pool, 'SELECT tick_id FROM pgferry.tick ORDER BY tick_id');
    expect(BigInt(kept[0]!.tick_id)).toBeLessThanOrEqual(BigInt(bTick));
    expect(kept.some((t) => t.tick_id === bTick)).toBe(true);
    expect(dataOf(await drain(db.pool, Q, 'b'))).toEqual(['last']);
    // Ticks left are all still valid starting points.
    for (const t of kept) {
      const oldEnough = await value<boolean>(
        db.pool,
        `SELECT pg_snapshot_xmin(tick_snapshot) >= (SELECT queue_data_horizon FROM pgferry.queue WHERE queue_name = $1)
           FROM pgferry.tick WHERE tick_id = $2`,
        [Q, t.tick_id],
      );
      if (!oldEnough) expect(BigInt(t.tick_id)).toBeGreaterThanOrEqual(BigInt(bTick));
    }
    await cleanup();
    expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.tick WHERE tick_queue = (SELECT queue_id FROM pgferry.queue WHERE queue_name = $1)', [Q])).not.toBe('0');
  });

  it('ticks by the rules: max count, max lag, idle period, paused', async () => {
    const Q = 'rules';
    await createQueue(db.pool, Q);
    const ticker = () => value<string | null>(db.pool, 'SELECT pgferry.ticker($1)', [Q]);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_lag', '1 hour')`, [Q]);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_idle_period', '1 hour')`, [Q]);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_count', '3')`, [Q]);
    await tick(db.pool, Q);
    expect(await ticker()).toBeNull();
    for (let i = 0; i < 2; i++) await insertEvent(db.pool, Q, 't', `${i}`);
    expect(await ticker()).toBeNull();
    await insertEvent(db.pool, Q, 't', '2');
    expect(await ticker()).not.toBeNull();
    expect(await ticker()).toBeNull();
    // Some events and the lag elapsed.
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_lag', '1 millisecond')`, [Q]);
    expect(await ticker()).toBeNull(); // no events since the last tick
    await insertEvent(db.pool, Q, 't', '3');
    await new Promise((r) => setTimeout(r, 5));
    expect(await ticker()).not.toBeNull();
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_idle_period', '1 millisecond')`, [Q]);
    await new Promise((r) => setTimeout(r, 5));
    expect(await ticker()).not.toBeNull();
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_paused', 'true')`, [Q]);
    await insertEvent(db.pool, Q, 't', '4');
    expect(await ticker()).toBeNull();
    expect(await value<number>(db.pool, 'SELECT pgferry.ticker()')).toBe(0);
  });

  it('creates a queue once when several sessions race, and drops it with everything in it', async () => {
    const conns = await connectMany(db.url, 4);
    try {
      const results = await Promise.all(conns.map((c) => value<number>(c, `SELECT pgferry.create_queue('race')`)));
      expect(results.sort()).toEqual([0, 0, 0, 1]);
    } finally {
      await endAll(conns);
    }
    const id = await value<number>(db.pool, `SELECT queue_id FROM pgferry.queue WHERE queue_name = 'race'`);
    await register(db.pool, 'race', 'c');
    await insertEvent(db.pool, 'race', 't', 'x');
    await tick(db.pool, 'race');
    await expectSqlError(db.pool.query(`SELECT pgferry.drop_queue('race')`), 'PF006', /still has consumers: c/);
    expect(await value<number>(db.pool, `SELECT pgferry.drop_queue('race', true)`)).toBe(1);
    expect(
      await rows(
        db.pool,
        `SELECT relname FROM pg_class WHERE relnamespace = 'pgferry'::regnamespace AND relname LIKE $1`,
        [`event\\_${id}\\_%`],
      ),
    ).toEqual([]);
    expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.subscription WHERE sub_queue = $1', [id])).toBe('0');
    expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.tick WHERE tick_queue = $1', [id])).toBe('0');
    // The name is free again, and the new queue starts empty.
    await createQueue(db.pool, 'race');
    await register(db.pool, 'race', 'c');
    await insertEvent(db.pool, 'race', 't', 'y');
    await tick(db.pool, 'race');
    expect(dataOf(await drain(db.pool, 'race', 'c'))).toEqual(['y']);
  });

  it('polls without taking a txid while there is nothing to do', async () => {
    const Q = 'idle';
    await createQueue(db.pool, Q);
    await register(db.pool, Q, 'plain');
    await db.pool.query(`SELECT pgferry.register_subconsumer($1, 'coop', 'w1')`, [Q]);
    const c = await db.connect();
    try {
      const polls = [
        [`SELECT pgferry.next_batch($1, 'plain')`, [Q]],
        [`SELECT pgferry.next_batch($1, 'coop', 'w1')`, [Q]],
        [`SELECT pgferry.next_batch($1, 'coop', 'w1', '1 hour')`, [Q]],
      ] as const;
      for (const [sql, params] of polls) {
        await c.query('BEGIN');
        expect(await value(c, sql, [...params])).toBeNull();
        expect(await value(c, 'SELECT pg_current_xact_id_if_assigned()')).toBeNull();
        await c.query('COMMIT');
      }
      // With work to do, it takes the batch as before.
      await insertEvent(db.pool, Q, 't', 'x');
      await tick(db.pool, Q);
      expect(dataOf(await drain(c, Q, 'plain'))).toEqual(['x']);
      const b = await value<string>(c, `SELECT pgferry.next_batch($1, 'coop', 'w1')`, [Q]);
      expect(b).not.toBeNull();
      expect(await value<string>(c, `SELECT pgferry.next_batch($1, 'coop', 'w1')`, [Q])).toBe(b);
      await expectSqlError(c.query(`SELECT pgferry.next_batch($1, 'coop')`, [Q]), 'PF006', /is cooperative/);
      await expectSqlError(c.query(`SELECT pgferry.next_batch($1, 'nobody')`, [Q]), 'PF002', /consumer "nobody"/);
      await expectSqlError(c.query(`SELECT pgferry.next_batch($1, 'coop', 'w9')`, [Q]), 'PF002', /consumer "coop#w9"/);
      await expectSqlError(c.query(`SELECT pgferry.next_batch('nowhere', 'coop', 'w1')`), 'PF001', /queue "nowhere"/);
    } finally {
      await c.end();
    }
  });
});
