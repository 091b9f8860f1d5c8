/**
 * Retry and dead letters: a retried event comes back after its delay to the consumer that
 * retried it and to no other; after max_retries it becomes a dead letter that can be
 * listed, replayed and purged; event_dead sends an event there directly.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  batchEvents,
  createQueue,
  dataOf,
  drain,
  expectSqlError,
  finishBatch,
  insertEvent,
  nextBatch,
  register,
  rows,
  tick,
  until,
  value,
} from './helpers.js';

describe('retry and dead letters', () => {
  const db = useTestDatabase();
  const Q = 'retry';

  const retryDue = () => value<number>(db.pool, 'SELECT pgferry.maint_retry_events()');

  /** Open a's next batch and return it with its events by data. */
  async function open(consumer: string) {
    const batch = (await nextBatch(db.pool, Q, consumer))!;
    expect(batch).not.toBeNull();
    const events = await batchEvents(db.pool, batch);
    const id = (data: string) => events.find((e) => e.ev_data === data)!.ev_id;
    return { batch, events, id };
  }

  it('brings a retried event back after its delay, to that consumer only, then dead-letters it', async () => {
    await createQueue(db.pool, Q);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'max_retries', '2')`, [Q]);
    await register(db.pool, Q, 'a');
    await register(db.pool, Q, 'b');
    for (const d of ['e1', 'e2', 'e3', 'later']) await insertEvent(db.pool, Q, 't', d);
    await tick(db.pool, Q);

    let a = await open('a');
    expect(a.events.map((e) => e.ev_data)).toEqual(['e1', 'e2', 'e3', 'later']);
    expect(a.events.every((e) => e.ev_retry === null)).toBe(true);
    expect(await value<number>(db.pool, `SELECT pgferry.event_retry($1, $2::bigint[], '50 milliseconds')`, [a.batch, [a.id('e2')]])).toBe(1);
    // PGQ's form: one event, seconds.
    expect(await value<number>(db.pool, 'SELECT pgferry.event_retry($1, $2::bigint, 3600)', [a.batch, a.id('later')])).toBe(1);
    expect(await finishBatch(db.pool, a.batch)).toBe(1);
    await expectSqlError(
      db.pool.query(`SELECT pgferry.event_retry($1, $2::bigint[], '1 second')`, [a.batch, [a.id('e1')]]),
      'PF005',
      new RegExp(`batch ${a.batch} is not open`),
    );
    expect(dataOf(await drain(db.pool, Q, 'b'))).toEqual(['e1', 'e2', 'e3', 'later']);
    expect(await value<string>(db.pool, `SELECT retry_pending FROM pgferry.get_consumer_info($1, 'a')`, [Q])).toBe('2');

    // e2 is due after 50 ms; 'later' after an hour, so it never comes back here.
    await until(async () => (await retryDue()) === 1, 'e2 due');
    expect(await retryDue()).toBe(0);
    await tick(db.pool, Q);
    a = await open('a');
    expect(a.events.map((e) => [e.ev_data, e.ev_retry])).toEqual([['e2', 1]]);
    // Retry it again, due at once: it comes back with ev_retry 2.
    expect(await value<number>(db.pool, `SELECT pgferry.event_retry($1, $2::bigint[], '0 seconds')`, [a.batch, [a.id('e2')]])).toBe(1);
    expect(await finishBatch(db.pool, a.batch)).toBe(1);
    expect(dataOf(await drain(db.pool, Q, 'b'))).toEqual([]);
    expect(await retryDue()).toBe(1);
    await tick(db.pool, Q);
    a = await open('a');
    expect(a.events.map((e) => [e.ev_data, e.ev_retry])).toEqual([['e2', 2]]);
    // max_retries (2) reached: a third retry makes it a dead letter.
    expect(await value<number>(db.pool, `SELECT pgferry.event_retry($1, $2::bigint[], '0 seconds')`, [a.batch, [a.id('e2')]])).toBe(1);
    expect(await finishBatch(db.pool, a.batch)).toBe(1);
    const dead = await rows<{ dl_id: string; consumer_name: string; ev_data: string; dl_reason: string; ev_retry: number }>(
      db.pool,
      `SELECT dl_id, consumer_name, ev_data, dl_reason, ev_retry FROM pgferry.dead_letter_list($1, 'a')`,
      [Q],
    );
    expect(dead).toEqual([{ dl_id: expect.any(String), consumer_name: 'a', ev_data: 'e2', dl_reason: 'retried 2 times', ev_retry: 2 }]);
    expect(await value<string>(db.pool, 'SELECT dead_letters FROM pgferry.get_queue_info($1)', [Q])).toBe('1');
    expect(await retryDue()).toBe(0);
    await tick(db.pool, Q);
    expect(dataOf(await drain(db.pool, Q, 'a'))).toEqual([]);
    expect(dataOf(await drain(db.pool, Q, 'b'))).toEqual([]);

    // Replay: back to 'a' with its retry count reset, never to 'b'.
    expect(await value<number>(db.pool, `SELECT pgferry.dead_letter_replay($1, 'a')`, [Q])).toBe(1);
    expect(await rows(db.pool, `SELECT * FROM pgferry.dead_letter_list($1)`, [Q])).toEqual([]);
    expect(await retryDue()).toBe(1);
    await tick(db.pool, Q);
    const got = await drain(db.pool, Q, 'a');
    expect(got.flatMap((d) => d.events.map((e) => [e.ev_data, e.ev_retry]))).toEqual([['e2', 0]]);
    expect(dataOf(await drain(db.pool, Q, 'b'))).toEqual([]);
  });

  it('sends events straight to the dead letters with event_dead, and purges them', async () => {
    const Q2 = 'dead';
    await createQueue(db.pool, Q2);
    await register(db.pool, Q2, 'a');
    await register(db.pool, Q2, 'b');
    for (const d of ['ok', 'bad1', 'bad2']) await insertEvent(db.pool, Q2, 't', d);
    await tick(db.pool, Q2);
    for (const c of ['a', 'b']) {
      const batch = (await nextBatch(db.pool, Q2, c))!;
      const ids = (await batchEvents(db.pool, batch)).filter((e) => e.ev_data!.startsWith('bad')).map((e) => e.ev_id);
      expect(await value<number>(db.pool, 'SELECT pgferry.event_dead($1, $2, $3)', [batch, ids, `malformed for ${c}`])).toBe(2);
      expect(await finishBatch(db.pool, batch)).toBe(1);
    }
    const list = await rows<{ consumer_name: string; ev_data: string; dl_reason: string }>(
      db.pool,
      'SELECT consumer_name, ev_data, dl_reason FROM pgferry.dead_letter_list($1)',
      [Q2],
    );
    expect(list).toEqual([
      { consumer_name: 'a', ev_data: 'bad1', dl_reason: 'malformed for a' },
      { consumer_name: 'a', ev_data: 'bad2', dl_reason: 'malformed for a' },
      { consumer_name: 'b', ev_data: 'bad1', dl_reason: 'malformed for b' },
      { consumer_name: 'b', ev_data: 'bad2', dl_reason: 'malformed for b' },
    ]);
    expect(await value<string>(db.pool, `SELECT dead_letters FROM pgferry.get_consumer_info($1, 'b')`, [Q2])).toBe('2');
    // Replay only one of b's: it comes back to b alone.
    const oneOfB = (await value<string>(db.pool, `SELECT min(dl_id) FROM pgferry.dead_letter_list($1, 'b')`, [Q2]));
    expect(await value<number>(db.pool, `SELECT pgferry.dead_letter_replay($1, 'b', $2)`, [Q2, [oneOfB]])).toBe(1);
    await value(db.pool, 'SELECT pgferry.maint_retry_events()');
    await tick(db.pool, Q2);
    expect(dataOf(await drain(db.pool, Q2, 'b'))).toEqual(['bad1']);
    expect(dataOf(await drain(db.pool, Q2, 'a'))).toEqual([]);

    expect(await value<number>(db.pool, `SELECT pgferry.dead_letter_purge($1, 'a', '1 hour')`, [Q2])).toBe(0);
    expect(await value<number>(db.pool, `SELECT pgferry.dead_letter_purge($1, 'a')`, [Q2])).toBe(2);
    expect((await rows(db.pool, 'SELECT * FROM pgferry.dead_letter_list($1)', [Q2])).length).toBe(1);
    expect(await value<number>(db.pool, 'SELECT pgferry.dead_letter_purge($1)', [Q2])).toBe(1);
    expect(await rows(db.pool, 'SELECT * FROM pgferry.dead_letter_list($1)', [Q2])).toEqual([]);
  });

  it('dead-letters an event once per consumer however often it is asked, and replays it once', async () => {
    const Q3 = 'dead-twice';
    await createQueue(db.pool, Q3);
    await register(db.pool, Q3, 'a');
    for (const d of ['bad', 'worse']) await insertEvent(db.pool, Q3, 't', d);
    await tick(db.pool, Q3);
    const batch = (await nextBatch(db.pool, Q3, 'a'))!;
    const ids = Object.fromEntries((await batchEvents(db.pool, batch)).map((e) => [e.ev_data, e.ev_id]));
    const dead = (evs: string[], reason: string) =>
      value<number>(db.pool, 'SELECT pgferry.event_dead($1, $2, $3)', [batch, evs, reason]);
    expect(await dead([ids.bad!], 'first')).toBe(1);
    expect(await dead([ids.bad!, ids.bad!], 'again')).toBe(1);
    // Retried first, then dead-lettered: dead wins, the event does not come back as well.
    expect(await value<number>(db.pool, `SELECT pgferry.event_retry($1, $2::bigint[], interval '0')`, [batch, [ids.worse]])).toBe(1);
    expect(await dead([ids.worse!, ids.bad!], 'third')).toBe(2);
    expect(await finishBatch(db.pool, batch)).toBe(1);
    expect(await value<string>(db.pool, `SELECT retry_pending FROM pgferry.get_consumer_info($1, 'a')`, [Q3])).toBe('0');
    expect(
      await rows(db.pool, 'SELECT ev_data, dl_reason FROM pgferry.dead_letter_list($1) ORDER BY ev_data', [Q3]),
    ).toEqual([
      { ev_data: 'bad', dl_reason: 'first' },
      { ev_data: 'worse', dl_reason: 'third' },
    ]);
    // A negative age would mean "older than the future": refused, nothing purged.
    await expectSqlError(db.pool.query(`SELECT pgferry.dead_letter_purge($1, NULL, '-1 day')`, [Q3]), 'PF003', /invalid age/);
    expect(await value<number>(db.pool, `SELECT pgferry.dead_letter_replay($1, 'a')`, [Q3])).toBe(2);
    await retryDue();
    await tick(db.pool, Q3);
    expect(dataOf(await drain(db.pool, Q3, 'a'))).toEqual(['bad', 'worse']);
  });
});
