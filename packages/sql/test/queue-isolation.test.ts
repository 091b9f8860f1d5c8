/**
 * Admin input cannot break a queue, and a broken queue does not break the others: every
 * setting is bounded (in set_queue_config and as CHECK constraints), and maintenance,
 * ticking and status go on for every other queue when one queue's operation fails.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { install } from '@pgferry/sql';
import {
  type Db,
  batchEvents,
  createQueue,
  expectSqlError,
  finishBatch,
  insertEvent,
  nextBatch,
  register,
  rows,
  tick,
  value,
} from './helpers.js';

const setting = (db: Db, queue: string, key: string, v: string) =>
  db.query('SELECT pgferry.set_queue_config($1, $2, $3)', [queue, key, v]);

const queueRow = (db: Db, queue: string) =>
  rows(
    db,
    `SELECT queue_ticker_max_count, queue_max_retries, queue_ticker_max_lag::text AS max_lag,
            queue_ticker_idle_period::text AS idle, queue_rotation_period::text AS rotation, queue_ntables
       FROM pgferry.queue WHERE queue_name = $1`,
    [queue],
  ).then((r) => r[0]);

describe('queue settings and isolation', () => {
  const db = useTestDatabase();

  it('accepts every setting up to its bound and refuses one beyond it, naming the bounds', async () => {
    await createQueue(db.pool, 'bounds');
    const cases: [key: string, ok: string[], bad: string[], hint: RegExp][] = [
      ['ticker_max_count', ['1', '1000000'], ['0', '1000001', '-5'], /from 1 to 1000000/],
      ['max_retries', ['0', '1000'], ['-1', '1001'], /from 0 to 1000/],
      ['ticker_max_lag', ['1 millisecond', '1 hour'], ['0', '0.5 milliseconds', '1 hour 1 second', '178000000 years'], /1 millisecond to 1 hour/],
      ['ticker_idle_period', ['1 millisecond', '1 day'], ['-1 minute', '25 hours', 'infinity'], /1 millisecond to 1 day/],
      ['rotation_period', ['1 millisecond', '1 year'], ['0', '1 year 1 day', '300000 years', '1 year -400 days'], /1 millisecond to 1 year/],
      ['ntables', ['3'], ['1', '33'], /from 2 to 32/],
    ];
    for (const [key, ok, bad, hint] of cases) {
      for (const v of ok) await setting(db.pool, 'bounds', key, v);
      const before = await queueRow(db.pool, 'bounds');
      for (const v of bad) {
        const e = await expectSqlError(setting(db.pool, 'bounds', key, v), 'PF003', new RegExp(`invalid value for ${key} of queue "bounds"`));
        expect(e.hint, `${key}=${v}`).toMatch(hint);
      }
      expect(await queueRow(db.pool, 'bounds')).toEqual(before);
    }
    // No path around set_queue_config can store an out-of-range value either.
    for (const [col, v] of [
      ['queue_rotation_period', `'300000 years'`],
      ['queue_ticker_max_lag', `'0'`],
      ['queue_ticker_idle_period', `'2 days'`],
      ['queue_ticker_max_count', '0'],
      ['queue_max_retries', '-1'],
      ['queue_ntables_next', '40'],
    ] as const) {
      await expectSqlError(db.pool.query(`UPDATE pgferry.queue SET ${col} = ${v} WHERE queue_name = 'bounds'`), '23514');
    }
  });

  it('clamps out-of-range values an older install holds, and keeps one dead letter per event and consumer', async () => {
    const q = await createQueue(db.pool, 'legacy');
    await register(db.pool, 'legacy', 'c');
    await insertEvent(db.pool, 'legacy', 't', 'x');
    await tick(db.pool, 'legacy');
    const batch = (await nextBatch(db.pool, 'legacy', 'c'))!;
    const [ev] = await batchEvents(db.pool, batch);
    expect(await value<number>(db.pool, `SELECT pgferry.event_dead($1, $2, 'bad')`, [batch, [ev!.ev_id]])).toBe(1);
    expect(await finishBatch(db.pool, batch)).toBe(1);
    // Back to the state before migration 005: no constraints, bad values, a duplicate dead letter.
    await db.pool.query(`
      ALTER TABLE pgferry.queue DROP CONSTRAINT queue_ticker_max_count_range, DROP CONSTRAINT queue_max_retries_range,
        DROP CONSTRAINT queue_ticker_max_lag_range, DROP CONSTRAINT queue_ticker_idle_period_range,
        DROP CONSTRAINT queue_rotation_period_range, DROP CONSTRAINT queue_ntables_next_range;
      DROP INDEX pgferry.dead_letter_event_idx;
      DROP INDEX pgferry.retry_queue_queue_due_idx;
      CREATE INDEX retry_queue_due_idx ON pgferry.retry_queue (ev_retry_after);
      DELETE FROM pgferry.migration WHERE id = 5;
      UPDATE pgferry.queue SET queue_rotation_period = '300000 years', queue_ticker_max_lag = '178000000 years',
             queue_ticker_idle_period = '-1 day', queue_ticker_max_count = 0, queue_max_retries = 5000
       WHERE queue_id = ${q};
      INSERT INTO pgferry.dead_letter (dl_queue, dl_consumer, dl_reason, ev_id, ev_time, ev_txid)
      SELECT dl_queue, dl_consumer, 'again', ev_id, ev_time, ev_txid FROM pgferry.dead_letter;`);
    await install(db.pool);
    expect(await queueRow(db.pool, 'legacy')).toEqual({
      queue_ticker_max_count: 1,
      queue_max_retries: 1000,
      max_lag: '01:00:00',
      idle: '00:00:00.001',
      rotation: '1 year',
      queue_ntables: 3,
    });
    expect(await rows(db.pool, 'SELECT consumer_name, dl_reason FROM pgferry.dead_letter_list($1)', ['legacy'])).toEqual([
      { consumer_name: 'c', dl_reason: 'bad' },
    ]);
    await expectSqlError(db.pool.query(`UPDATE pgferry.queue SET queue_rotation_period = '2 years'`), '23514');
  });

  it('keeps maintaining, ticking and reporting every other queue when some queues fail', async () => {
    const good = ['good1', 'good2'];
    for (const name of [...good, 'overflow', 'noseq', 'notable']) {
      await createQueue(db.pool, name);
      await setting(db.pool, name, 'rotation_period', '1 millisecond');
      await register(db.pool, name, 'c');
      await insertEvent(db.pool, name, 't', 'x');
      await tick(db.pool, name);
      // An event handed back for retry now: maintenance moves it into the queue.
      const batch = (await nextBatch(db.pool, name, 'c'))!;
      const ids = (await batchEvents(db.pool, batch)).map((e) => e.ev_id);
      expect(await value<number>(db.pool, `SELECT pgferry.event_retry($1, $2::bigint[], interval '0')`, [batch, ids])).toBe(1);
      expect(await finishBatch(db.pool, batch)).toBe(1);
    }
    // Three ways a queue can break, bypassing pgferry's checks as a superuser can.
    const id = (name: string) => value<number>(db.pool, 'SELECT queue_id FROM pgferry.queue WHERE queue_name = $1', [name]);
    await db.pool.query(`ALTER TABLE pgferry.queue DROP CONSTRAINT queue_rotation_period_range`);
    await db.pool.query(`UPDATE pgferry.queue SET queue_rotation_period = '300000 years' WHERE queue_name = 'overflow'`);
    await db.pool.query(`DROP SEQUENCE pgferry.event_${await id('noseq')}_id_seq`);
    await db.pool.query(`DROP TABLE pgferry.event_${await id('notable')}_0, pgferry.event_${await id('notable')}_1`);
    try {
      const c = await db.connect();
      const warnings: string[] = [];
      c.on('notice', (n) => warnings.push(n.message ?? ''));
      try {
        await c.query('CALL pgferry.maint()');
      } finally {
        await c.end();
      }
      // Each failing queue is named; the other queues rotated and got their retries back.
      expect(warnings.filter((w) => /overflow/.test(w)).join('\n')).toMatch(/maint_rotate_tables_step1 failed for queue overflow: timestamp out of range/);
      expect(warnings.join('\n')).toMatch(/maint_retry_events failed for queue noseq/);
      expect(warnings.join('\n')).toMatch(/maint_retry_events failed for queue notable/);
      expect(warnings.join('\n')).toMatch(/maint_rotate_tables_step1 failed for queue notable/);
      for (const g of good) {
        expect(await value<number>(db.pool, 'SELECT queue_cur_table FROM pgferry.queue WHERE queue_name = $1', [g])).toBe(1);
        expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.retry_queue WHERE ev_queue = $1', [await id(g)])).toBe('0');
      }
      expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.retry_queue WHERE ev_queue = $1', [await id('notable')])).toBe('1');

      // Ticking: every good queue ticks, the broken one is reported as a row (and a WARNING).
      for (const g of good) await insertEvent(db.pool, g, 't', 'y');
      await db.pool.query(`UPDATE pgferry.queue SET queue_ticker_max_count = 1`);
      const ticked = await rows<{ queue_name: string; tick_id: string | null; error: string | null }>(
        db.pool,
        'SELECT queue_name, tick_id, error FROM pgferry.ticker_all() ORDER BY queue_name',
      );
      const byQueue = Object.fromEntries(ticked.map((t) => [t.queue_name, t]));
      for (const g of good) expect(byQueue[g]).toMatchObject({ error: null, tick_id: expect.any(String) });
      expect(byQueue.noseq).toMatchObject({ tick_id: null, error: expect.stringMatching(/queue "noseq" is damaged: its event id sequence \(oid \d+\) is missing/) });
      expect(byQueue.notable?.error ?? null).toBeNull(); // its event tables are not the ticker's business

      // Status lists every queue: the damaged one with the reason instead of its figures.
      const info = await rows<{ queue_name: string; status_error: string | null; rotation_blocker_kind: string | null }>(
        db.pool,
        `SELECT queue_name, status_error, rotation_blocker_kind FROM pgferry.get_queue_info()
          WHERE queue_name NOT IN ('bounds', 'legacy') ORDER BY queue_name`,
      );
      expect(info.map((i) => i.queue_name)).toEqual(['good1', 'good2', 'noseq', 'notable', 'overflow']);
      expect(info.filter((i) => i.status_error !== null)).toEqual([
        { queue_name: 'noseq', status_error: expect.stringMatching(/event id sequence \(oid \d+\) is missing/), rotation_blocker_kind: expect.anything() },
      ]);
      expect(info.find((i) => i.queue_name === 'overflow')!.rotation_blocker_kind).toBe('not_due');
      expect(await rows(db.pool, `SELECT * FROM pgferry.get_consumer_info() WHERE queue_name NOT IN ('bounds', 'legacy')`)).toHaveLength(5);
    } finally {
      // The other tests of this file's database need the constraint back.
      await db.pool.query(`DELETE FROM pgferry.queue WHERE queue_name IN ('overflow', 'noseq', 'notable')`);
      await db.pool.query(`ALTER TABLE pgferry.queue ADD CONSTRAINT queue_rotation_period_range
        CHECK (queue_rotation_period BETWEEN interval '1 millisecond' AND interval '1 year')`);
    }
  });
});
