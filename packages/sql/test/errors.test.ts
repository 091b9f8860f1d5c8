/**
 * Bad input gets a clear error (pgferry's own SQLSTATE, a message naming the thing) and
 * changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { type Db, createQueue, expectSqlError, insertEvent, nextBatch, register, rows, tick, value } from './helpers.js';

/** Row counts of every pgferry table, and the tables themselves. */
async function state(db: Db): Promise<Record<string, unknown>> {
  const counts = await rows(
    db,
    `SELECT (SELECT count(*) FROM pgferry.queue) AS queues,
            (SELECT count(*) FROM pgferry.consumer) AS consumers,
            (SELECT count(*) FROM pgferry.subscription) AS subscriptions,
            (SELECT count(*) FROM pgferry.tick) AS ticks,
            (SELECT count(*) FROM pgferry.event) AS events,
            (SELECT count(*) FROM pgferry.retry_queue) AS retries,
            (SELECT count(*) FROM pgferry.dead_letter) AS dead,
            (SELECT count(*) FROM pg_class WHERE relnamespace = 'pgferry'::regnamespace) AS relations,
            (SELECT json_agg(q ORDER BY queue_id) FROM pgferry.queue q) AS queue_rows,
            (SELECT json_agg(s ORDER BY sub_id) FROM pgferry.subscription s) AS sub_rows`,
  );
  return counts[0]!;
}

const long = 'q'.repeat(101);

describe('bad input', () => {
  const db = useTestDatabase();

  it('is refused with a clear error and leaves everything as it was', async () => {
    await createQueue(db.pool, 'q');
    await register(db.pool, 'q', 'c');
    await insertEvent(db.pool, 'q', 't', 'x');
    await tick(db.pool, 'q');
    const batch = (await nextBatch(db.pool, 'q', 'c'))!;
    const inBatch = (await rows<{ ev_id: string }>(db.pool, 'SELECT ev_id FROM pgferry.get_batch_events($1)', [batch]))[0]!.ev_id;
    const before = await state(db.pool);

    const cases: [string, unknown[], string, RegExp][] = [
      // names
      ['SELECT pgferry.create_queue($1)', [''], 'PF003', /invalid queue name: ''/],
      ['SELECT pgferry.create_queue($1)', [long], 'PF003', /invalid queue name: 'q{101}'/],
      ['SELECT pgferry.create_queue($1)', ['a b'], 'PF003', /invalid queue name: 'a b'/],
      ['SELECT pgferry.create_queue($1)', ["it's"], 'PF003', /invalid queue name: 'it''s'/],
      ['SELECT pgferry.create_queue($1)', ['a"b'], 'PF003', /invalid queue name: 'a"b'/],
      ['SELECT pgferry.create_queue($1)', ['c#d'], 'PF003', /invalid queue name/],
      ['SELECT pgferry.create_queue($1)', [null], 'PF003', /invalid queue name: NULL/],
      ['SELECT pgferry.register_consumer($1, $2)', ['q', ''], 'PF003', /invalid consumer name: ''/],
      ['SELECT pgferry.register_consumer($1, $2)', ['q', 'x y'], 'PF003', /invalid consumer name: 'x y'/],
      ['SELECT pgferry.register_consumer($1, $2)', ['q', 'w#1'], 'PF003', /invalid consumer name: 'w#1'/],
      ['SELECT pgferry.register_consumer($1, $2)', ['q', null], 'PF003', /invalid consumer name: NULL/],
      ['SELECT pgferry.register_consumer($1, $2)', ['q', long], 'PF003', /invalid consumer name/],
      ['SELECT pgferry.register_subconsumer($1, $2, $3)', ['q', 'c2', 'bad name'], 'PF003', /invalid subconsumer name: 'bad name'/],
      ['SELECT pgferry.register_consumer_at($1, $2, $3)', ['q', "o'k", 1], 'PF003', /invalid consumer name/],
      // ntables
      ['SELECT pgferry.create_queue($1, $2)', ['nt', 1], 'PF003', /invalid number of event tables for queue "nt": 1 \(must be 2\.\.32\)/],
      ['SELECT pgferry.create_queue($1, $2)', ['nt', 33], 'PF003', /queue "nt": 33/],
      ['SELECT pgferry.create_queue($1, $2)', ['nt', null], 'PF003', /queue "nt": <NULL>/],
      // unknown queue
      ['SELECT pgferry.insert_event($1, $2, $3)', ['nope', 't', 'd'], 'PF001', /queue "nope" does not exist/],
      ["SELECT pgferry.insert_events($1, ARRAY['t'], ARRAY['d'])", ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.register_consumer($1, $2)', ['nope', 'c'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.next_batch($1, $2)', ['nope', 'c'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.force_tick($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.ticker($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.drop_queue($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.maint_rotate_tables_step1($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT * FROM pgferry.get_queue_info($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT * FROM pgferry.get_consumer_info($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['nope', 'max_retries', '1'], 'PF001', /queue "nope" does not exist/],
      ['SELECT * FROM pgferry.dead_letter_list($1)', ['nope'], 'PF001', /queue "nope" does not exist/],
      // unknown consumer
      ['SELECT pgferry.next_batch($1, $2)', ['q', 'ghost'], 'PF002', /consumer "ghost" is not registered on queue "q"/],
      ['SELECT pgferry.unregister_consumer($1, $2)', ['q', 'ghost'], 'PF002', /consumer "ghost" is not registered on queue "q"/],
      ['SELECT pgferry.next_batch($1, $2, $3)', ['q', 'c', 'w1'], 'PF002', /consumer "c#w1" is not registered on queue "q"/],
      ['SELECT pgferry.dead_letter_replay($1, $2)', ['q', 'ghost'], 'PF002', /consumer "ghost"/],
      // batches
      ['SELECT * FROM pgferry.get_batch_events($1)', [-5], 'PF005', /batch -5 is not open/],
      ['SELECT pgferry.batch_event_sql($1)', [987654], 'PF005', /batch 987654 is not open/],
      ['SELECT * FROM pgferry.get_batch_info($1)', [987654], 'PF005', /batch 987654 is not open/],
      ["SELECT pgferry.event_retry($1, ARRAY[1]::bigint[], '1 second')", [987654], 'PF005', /batch 987654 is not open/],
      ["SELECT pgferry.event_retry($1, ARRAY[1]::bigint[], '-1 second')", [batch], 'PF003', /invalid retry delay: -00:00:01/],
      ['SELECT pgferry.event_retry($1, ARRAY[1]::bigint[], NULL)', [batch], 'PF003', /invalid retry delay: NULL/],
      ['SELECT pgferry.event_dead($1, ARRAY[1]::bigint[], $2)', [987654, 'r'], 'PF005', /batch 987654 is not open/],
      ["SELECT pgferry.event_retry($1, ARRAY[1]::bigint[], '1 year 1 day')", [batch], 'PF003', /invalid retry delay: 1 year 1 day/],
      // ids that are not events of the batch: named, and the events that are untouched
      ["SELECT pgferry.event_retry($1, $2::bigint[], '1 second')", [batch, [inBatch, 999999, 888888]], 'PF003', new RegExp(`event id\\(s\\) 888888, 999999 not in batch ${batch}`)],
      ['SELECT pgferry.event_retry($1::bigint, $2::bigint, 10)', [batch, 999999], 'PF003', /event id\(s\) 999999 not in batch/],
      ['SELECT pgferry.event_dead($1, $2::bigint[], $3)', [batch, [inBatch, 999999], 'r'], 'PF003', /event id\(s\) 999999 not in batch/],
      ["SELECT pgferry.event_retry($1, ARRAY[NULL]::bigint[], '1 second')", [batch], 'PF003', /event ids for batch \d+ must not be NULL/],
      ['SELECT pgferry.event_dead($1, NULL, $2)', [batch, 'r'], 'PF003', /event ids for batch \d+ must not be NULL: NULL/],
      ["SELECT pgferry.dead_letter_purge($1, NULL, '-1 day')", ['q'], 'PF003', /dead_letter_purge on queue "q": invalid age -1 days/],
      // settings
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'bogus', '1'], 'PF003', /unknown setting "bogus" for queue "q"/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', null, '1'], 'PF003', /unknown setting "<NULL>" for queue "q"/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'max_retries', null], 'PF003', /queue "q": value for max_retries must not be NULL/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'ticker_max_count', '0'], 'PF003', /invalid value for ticker_max_count of queue "q": '0'/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'ticker_max_count', 'many'], 'PF003', /invalid value for ticker_max_count of queue "q": 'many'/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'max_retries', '-1'], 'PF003', /invalid value for max_retries/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'max_retries', '99999999999'], 'PF003', /invalid value for max_retries/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'max_retries', '1.5'], 'PF003', /invalid value for max_retries/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'rotation_period', '-1 second'], 'PF003', /invalid value for rotation_period of queue "q"/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'rotation_period', '0'], 'PF003', /invalid value for rotation_period/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'ticker_max_lag', 'soon'], 'PF003', /invalid value for ticker_max_lag of queue "q": 'soon'/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'ticker_idle_period', '999999999999 years'], 'PF003', /invalid value for ticker_idle_period/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'ticker_paused', 'maybe'], 'PF003', /invalid value for ticker_paused of queue "q": 'maybe'/],
      ['SELECT pgferry.set_queue_config($1, $2, $3)', ['q', 'disable_insert', ''], 'PF003', /invalid value for disable_insert/],
      // other arguments and states
      ["SELECT pgferry.insert_events($1, ARRAY['a','b'], ARRAY['1','2','3'])", ['q'], 'PF003', /insert_events into "q": 2 types for 3 events/],
      // unnest() would pad the payloads with NULLs: phantom events
      ["SELECT pgferry.insert_events($1, ARRAY['t'], ARRAY['1'], ARRAY['a','b','c'])", ['q'], 'PF003', /1 events; i_ev_extra1\.\.4 have 3, <NULL>, <NULL>, <NULL>/],
      ["SELECT pgferry.insert_events($1, ARRAY['t'], ARRAY['1','2'], NULL, NULL, NULL, ARRAY['x'])", ['q'], 'PF003', /2 events; i_ev_extra1\.\.4 have <NULL>, <NULL>, <NULL>, 1/],
      ["SELECT pgferry.insert_events($1, ARRAY['t'], ARRAY[]::text[], ARRAY['x'])", ['q'], 'PF003', /0 events; i_ev_extra1\.\.4 have 1/],
      ['SELECT pgferry.drop_queue($1)', ['q'], 'PF006', /queue "q" still has consumers: c/],
      ['SELECT pgferry.register_subconsumer($1, $2, $3)', ['q', 'c', 'w1'], 'PF006', /consumer "c" on queue "q" has an open batch/],
      ['SELECT pgferry.register_consumer_at($1, $2, $3)', ['q', 'c', 1], 'PF006', /consumer "c" on queue "q" has an open batch/],
      ['SELECT pgferry.register_consumer_at($1, $2, $3)', ['q', 'c2', 99999], 'PF006', /queue "q" has no tick 99999 yet \(its last tick is \d+\)/],
    ];
    for (const [sql, params, code, message] of cases) {
      await expectSqlError(db.pool.query(sql, params), code, message);
    }
    expect(await state(db.pool)).toEqual(before);

    // Settings that are valid are applied, with or without the queue_ prefix.
    expect(await value<number>(db.pool, `SELECT pgferry.set_queue_config('q', 'QUEUE_MAX_RETRIES', '0')`)).toBe(1);
    expect(await value<number>(db.pool, `SELECT pgferry.set_queue_config('q', 'rotation_period', '90 minutes')`)).toBe(1);
    const info = (await rows(db.pool, `SELECT queue_max_retries, queue_rotation_period::text AS p FROM pgferry.get_queue_info('q')`))[0];
    expect(info).toEqual({ queue_max_retries: 0, p: '01:30:00' });
    // A name of exactly 100 allowed characters is fine.
    expect(await value<number>(db.pool, 'SELECT pgferry.create_queue($1)', ['Az09_.:-'.repeat(12) + 'ab'])).toBe(1);
    expect(await value<number>(db.pool, 'SELECT pgferry.create_queue($1)', ['q'])).toBe(0);
  });

  it('refuses inserts into a disabled queue and ticks outside READ COMMITTED', async () => {
    await createQueue(db.pool, 'off');
    await db.pool.query(`SELECT pgferry.set_queue_config('off', 'disable_insert', 'true')`);
    const before = await state(db.pool);
    await expectSqlError(insertEvent(db.pool, 'off', 't', 'd'), 'PF006', /inserts into queue "off" are disabled/);
    await expectSqlError(
      db.pool.query(`SELECT pgferry.insert_events('off', ARRAY['t'], ARRAY['d'])`),
      'PF006',
      /inserts into queue "off" are disabled/,
    );
    const c = await db.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await expectSqlError(c.query(`SELECT pgferry.force_tick('off')`), 'PF006', /ticks must be made in a READ COMMITTED transaction/);
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
    expect(await state(db.pool)).toEqual(before);
  });

  it('lists only the sub-consumers of the named consumer, whatever characters its name has', async () => {
    await createQueue(db.pool, 'names');
    for (const [c, s] of [
      ['a_b', 'w1'],
      ['axb', 'w1'],
    ] as const) {
      await db.pool.query(`SELECT pgferry.register_subconsumer('names', $1, $2)`, [c, s]);
    }
    const listed = await rows<{ consumer_name: string }>(db.pool, `SELECT consumer_name FROM pgferry.get_consumer_info('names', 'a_b')`);
    expect(listed.map((r) => r.consumer_name)).toEqual(['a_b', 'a_b#w1']);
  });
});
