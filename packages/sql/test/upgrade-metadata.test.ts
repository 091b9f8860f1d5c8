/**
 * Upgrading to the insert-only metadata (migration 006) keeps every position, open batch
 * and tick: a database at the migrations before it, with consumers caught in every state
 * (at a tick, holding a batch, a cooperative consumer whose sub-consumer holds one, an idle
 * sub-consumer), is upgraded by install(), and each consumer goes on exactly where it was.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { install } from '../src/index.js';
import { migrations } from '../src/bundle.js';
import { expectSqlError, rows, value } from './helpers.js';

describe('upgrade to insert-only metadata (migration 006)', () => {
  const db = useTestDatabase({ install: false });

  it('moves positions and open batches into the position log, losing none', async () => {
    // The schema as it was before 006: only the earlier migrations.
    await db.pool.query(
      `CREATE SCHEMA pgferry;
       CREATE TABLE pgferry.migration (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const m of migrations().filter((m) => m.id < 6)) {
      await db.pool.query(m.sql);
      await db.pool.query('INSERT INTO pgferry.migration (id, name) VALUES ($1, $2)', [m.id, m.name]);
    }
    // A queue with four ticks and one event between ticks 11 and 12, as the old functions
    // left them.
    await db.pool.query(`
      CREATE SEQUENCE pgferry.event_1_id_seq;
      INSERT INTO pgferry.queue (queue_id, queue_name, queue_ntables, queue_event_seq, queue_table_step2)
      VALUES (1, 'q', 2, 'pgferry.event_1_id_seq', '{0,0}');
      CREATE TABLE pgferry.event_1 PARTITION OF pgferry.event FOR VALUES IN (1) PARTITION BY LIST (ev_tbl);
      CREATE TABLE pgferry.event_1_0 PARTITION OF pgferry.event_1 FOR VALUES IN (0);
      CREATE TABLE pgferry.event_1_1 PARTITION OF pgferry.event_1 FOR VALUES IN (1);
      SELECT setval('pgferry.tick_id_seq', 13);
      INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq) VALUES (1, 10, 0), (1, 11, 0);`);
    // The event in a transaction of its own, after tick 11 (a tick made in the event's own
    // transaction would not hold its txid in xip: with a later transaction committed meanwhile,
    // tick 11 would already count the event as seen).
    await db.pool.query(`
      INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data)
      VALUES (1, 0, nextval('pgferry.event_1_id_seq'), now(), pg_current_xact_id(), 't', 'one');`);
    await db.pool.query(`INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq) VALUES (1, 12, 1)`);
    await db.pool.query(`INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq) VALUES (1, 13, 1)`);
    await db.pool.query(`
      SELECT setval('pgferry.batch_id_seq', 100);
      INSERT INTO pgferry.consumer (co_id, co_name) VALUES (1, 'at'), (2, 'holding'), (3, 'coop'), (4, 'coop#w1'), (5, 'coop#w2');
      INSERT INTO pgferry.subscription (sub_id, sub_queue, sub_consumer, sub_parent, sub_last_tick, sub_next_tick, sub_batch, sub_batch_start)
      VALUES (1, 1, 1, NULL, 12, NULL, NULL, NULL),
             (2, 1, 2, NULL, 11, 12, 99, now()),
             (3, 1, 3, NULL, 12, NULL, NULL, NULL),
             (4, 1, 4, 3, 11, 12, 100, now()),
             (5, 1, 5, 3, NULL, NULL, NULL, NULL);
      SELECT setval(pg_get_serial_sequence('pgferry.subscription', 'sub_id'), 5);
      SELECT setval(pg_get_serial_sequence('pgferry.consumer', 'co_id'), 5);`);
    const before = await rows(db.pool, 'SELECT * FROM pgferry.subscription ORDER BY sub_id');

    const { applied } = await install(db.pool);
    expect(applied).toContain(6);
    // Same rows, same columns, through the view.
    expect(await rows(db.pool, 'SELECT * FROM pgferry.subscription ORDER BY sub_id')).toEqual(before);
    expect(await value<string>(db.pool, `SELECT string_agg(tick_id::text, ',' ORDER BY tick_id) FROM pgferry.tick`)).toBe('10,11,12,13');

    // Open batches stay open, with the same span and events, and finish where they should.
    const span = (b: string) => rows(db.pool, 'SELECT prev_tick_id, tick_id FROM pgferry.get_batch_info($1)', [b]);
    expect(await span('99')).toEqual([{ prev_tick_id: '11', tick_id: '12' }]);
    expect(await span('100')).toEqual([{ prev_tick_id: '11', tick_id: '12' }]);
    expect(await value<string>(db.pool, `SELECT pgferry.next_batch('q', 'holding')`)).toBe('99');
    expect(await value<string>(db.pool, `SELECT pgferry.next_batch('q', 'coop', 'w1')`)).toBe('100');
    for (const b of ['99', '100']) {
      expect((await rows(db.pool, 'SELECT ev_data FROM pgferry.get_batch_events($1)', [b])).map((r) => r.ev_data)).toEqual(['one']);
      expect(await value<number>(db.pool, 'SELECT pgferry.finish_batch($1)', [b])).toBe(1);
      await expectSqlError(db.pool.query('SELECT pgferry.finish_batch($1)', [b]), 'PF005');
    }
    const at = await rows(db.pool, `SELECT consumer_name, last_tick FROM pgferry.get_consumer_info('q') WHERE NOT is_subconsumer`);
    expect(at).toEqual([
      { consumer_name: 'at', last_tick: '12' },
      { consumer_name: 'coop', last_tick: '12' },
      { consumer_name: 'holding', last_tick: '12' },
    ]);
    // The next batches start from there.
    const startOf = async (b: string | null) =>
      value<string>(db.pool, 'SELECT prev_tick_id FROM pgferry.get_batch_info($1)', [b]);
    expect(await startOf(await value<string>(db.pool, `SELECT pgferry.next_batch('q', 'at')`))).toBe('12');
    expect(await startOf(await value<string>(db.pool, `SELECT pgferry.next_batch('q', 'coop', 'w2')`))).toBe('12');
  });
});
