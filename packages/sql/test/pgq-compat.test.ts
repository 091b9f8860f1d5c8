/**
 * The PGQ-compatible schemas (pgq, pgq_coop) against PGQ's documented behaviour: a consumer
 * written against PGQ's API in SQL, column by column with PGQ's names and types; the
 * logutriga/jsontriga/sqltriga event formats; cooperative consumers; the install (re-run,
 * refused over the real PGQ, removed with pgferry) and its routines' pinned search_path.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { install, installPgq, InvalidStateError, pgqBundleSql, pgqInstalled, uninstall, uninstallPgq } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { expectSqlError, rows, sleep, value } from './helpers.js';

// Type oids of PGQ's result columns.
const INT8 = 20;
const INT4 = 23;
const TEXT = 25;
const BOOL = 16;
const FLOAT8 = 701;
const TIMESTAMPTZ = 1184;
const INTERVAL = 1186;

/** The result's columns as [name, type oid] pairs. */
async function columns(db: pg.Pool | pg.Client, sql: string, params: unknown[] = []): Promise<[string, number][]> {
  const res = await db.query(sql, params);
  return res.fields.map((f) => [f.name, f.dataTypeID]);
}

const EVENT_COLUMNS: [string, number][] = [
  ['ev_id', INT8], ['ev_time', TIMESTAMPTZ], ['ev_txid', INT8], ['ev_retry', INT4], ['ev_type', TEXT],
  ['ev_data', TEXT], ['ev_extra1', TEXT], ['ev_extra2', TEXT], ['ev_extra3', TEXT], ['ev_extra4', TEXT],
];

interface PgqEvent {
  ev_id: string;
  ev_time: Date;
  ev_txid: string;
  ev_retry: number | null;
  ev_type: string | null;
  ev_data: string | null;
  ev_extra1: string | null;
  ev_extra2: string | null;
  ev_extra3: string | null;
  ev_extra4: string | null;
}

async function batchEvents(db: pg.Pool | pg.Client, batch: string): Promise<PgqEvent[]> {
  return rows<PgqEvent>(db, 'SELECT * FROM pgq.get_batch_events($1)', [batch]);
}

/** The WARNINGs a statement raises (PGQ reports some outcomes that way). */
async function warningsOf(c: pg.Client, sql: string, params: unknown[] = []): Promise<{ result: unknown; warnings: string[] }> {
  const warnings: string[] = [];
  const onNotice = (n: { severity?: string; message?: string }) => {
    if (n.severity === 'WARNING') warnings.push(n.message ?? '');
  };
  c.on('notice', onNotice);
  try {
    const res = await c.query({ text: sql, values: params, rowMode: 'array' });
    return { result: (res.rows[0] as unknown[])[0], warnings };
  } finally {
    c.off('notice', onNotice);
  }
}

describe('pgq schema: a consumer written against PGQ', () => {
  const db = useTestDatabase();
  beforeAll(async () => {
    await installPgq(db.pool);
    await installPgq(db.pool); // re-runnable: CREATE OR REPLACE, grants again
  });

  it('creates a queue, produces with extras, ticks, and consumes batch by batch as PGQ documents', async () => {
    const v = <T>(sql: string, params: unknown[] = []) => value<T>(db.pool, sql, params);
    expect(await v<number>(`SELECT pgq.create_queue('orders')`)).toBe(1);
    expect(await v<number>(`SELECT pgq.create_queue('orders')`)).toBe(0);
    expect(await v<number>(`SELECT pgq.set_queue_config('orders', 'ticker_max_count', '1')`)).toBe(1);
    expect(await v<number>(`SELECT pgq.register_consumer('orders', 'billing')`)).toBe(1);
    expect(await v<number>(`SELECT pgq.register_consumer('orders', 'billing')`)).toBe(0);
    // No tick since registration: no batch ("the consumer should sleep").
    expect(await v<string | null>(`SELECT pgq.next_batch('orders', 'billing')`)).toBeNull();
    expect(await columns(db.pool, `SELECT * FROM pgq.next_batch_info('orders', 'billing')`)).toEqual([
      ['batch_id', INT8], ['cur_tick_id', INT8], ['prev_tick_id', INT8], ['cur_tick_time', TIMESTAMPTZ],
      ['prev_tick_time', TIMESTAMPTZ], ['cur_tick_event_seq', INT8], ['prev_tick_event_seq', INT8],
    ]);

    // Events exist if and only if their transaction commits.
    const c = await db.connect();
    try {
      await c.query('BEGIN');
      const id1 = await value<string>(c, `SELECT pgq.insert_event('orders', 'order', '{"id":1}')`);
      const id2 = await value<string>(c, `SELECT pgq.insert_event('orders', 'order', '{"id":2}', 'e1', 'e2', 'e3', 'e4')`);
      const txid = await value<string>(c, 'SELECT txid_current()');
      await c.query('COMMIT');
      await c.query('BEGIN');
      await c.query(`SELECT pgq.insert_event('orders', 'order', 'rolled back')`);
      await c.query('ROLLBACK');
      expect(Number(id2)).toBeGreaterThan(Number(id1));
      expect(Number(await v<string>(`SELECT pgq.ticker()`))).toBe(1);

      const info = (await rows<Record<string, string | null>>(db.pool, `SELECT * FROM pgq.next_batch_info('orders', 'billing')`))[0]!;
      const batch = info.batch_id!;
      expect(batch).not.toBeNull();
      expect(Number(info.cur_tick_id)).toBeGreaterThan(Number(info.prev_tick_id));
      expect(Number(info.cur_tick_event_seq)).toBeGreaterThanOrEqual(Number(id2));
      // The same batch until it is finished.
      expect(await v<string>(`SELECT pgq.next_batch('orders', 'billing')`)).toBe(batch);

      expect(await columns(db.pool, 'SELECT * FROM pgq.get_batch_events($1)', [batch])).toEqual(EVENT_COLUMNS);
      const events = await batchEvents(db.pool, batch);
      for (const e of events) expect(e.ev_time).toBeInstanceOf(Date);
      expect(events.map(({ ev_time: _t, ...rest }) => rest)).toEqual([
        { ev_id: id1, ev_txid: txid, ev_retry: null, ev_type: 'order', ev_data: '{"id":1}',
          ev_extra1: null, ev_extra2: null, ev_extra3: null, ev_extra4: null },
        { ev_id: id2, ev_txid: txid, ev_retry: null, ev_type: 'order', ev_data: '{"id":2}',
          ev_extra1: 'e1', ev_extra2: 'e2', ev_extra3: 'e3', ev_extra4: 'e4' },
      ]);
      const sqlText = await v<string>('SELECT pgq.batch_event_sql($1)', [batch]);
      expect(await columns(db.pool, sqlText)).toEqual(EVENT_COLUMNS);
      expect((await rows<PgqEvent>(db.pool, sqlText)).map((e) => e.ev_id)).toEqual([id1, id2]);

      // A cursor: the first rows at once, the rest with FETCH, optionally filtered.
      await c.query('BEGIN');
      expect(await columns(c, `SELECT * FROM pgq.get_batch_cursor($1, 'evs', 1)`, [batch])).toEqual(EVENT_COLUMNS);
      await c.query('CLOSE evs');
      const quick = await rows<PgqEvent>(c, `SELECT * FROM pgq.get_batch_cursor($1, 'Evs', 1)`, [batch]);
      expect(quick.map((e) => e.ev_id)).toEqual([id1]);
      expect((await rows<PgqEvent>(c, 'FETCH ALL FROM "Evs"')).map((e) => e.ev_id)).toEqual([id2]);
      const filtered = await rows<PgqEvent>(c, `SELECT * FROM pgq.get_batch_cursor($1, 'f', 10, 'ev_extra1 = ''e1''')`, [batch]);
      expect(filtered.map((e) => e.ev_id)).toEqual([id2]);
      expect(await rows(c, `SELECT * FROM pgq.get_batch_cursor($1, 'none', 0)`, [batch])).toEqual([]);
      expect((await rows<PgqEvent>(c, 'FETCH ALL FROM none')).length).toBe(2);
      await c.query('COMMIT');

      // Batch info in PGQ's columns.
      expect(await columns(db.pool, 'SELECT * FROM pgq.get_batch_info($1)', [batch])).toEqual([
        ['queue_name', TEXT], ['consumer_name', TEXT], ['batch_start', TIMESTAMPTZ], ['batch_end', TIMESTAMPTZ],
        ['prev_tick_id', INT8], ['tick_id', INT8], ['lag', INTERVAL], ['seq_start', INT8], ['seq_end', INT8],
      ]);
      const bi = (await rows<Record<string, string>>(db.pool, 'SELECT * FROM pgq.get_batch_info($1)', [batch]))[0]!;
      expect(bi).toMatchObject({ queue_name: 'orders', consumer_name: 'billing', prev_tick_id: info.prev_tick_id, tick_id: info.cur_tick_id });

      // While the batch is open, the consumer shows it.
      expect(await columns(db.pool, 'SELECT * FROM pgq.get_consumer_info()')).toEqual([
        ['queue_name', TEXT], ['consumer_name', TEXT], ['lag', INTERVAL], ['last_seen', INTERVAL],
        ['last_tick', INT8], ['current_batch', INT8], ['next_tick', INT8], ['pending_events', INT8],
      ]);
      const ci = (await rows<Record<string, string | null>>(db.pool, `SELECT * FROM pgq.get_consumer_info('orders', 'billing')`))[0]!;
      expect(ci).toMatchObject({ last_tick: info.prev_tick_id, current_batch: batch, next_tick: info.cur_tick_id });
      expect(Number(ci.pending_events)).toBe(Number(info.cur_tick_event_seq) - Number(info.prev_tick_event_seq));

      // Retry: one event in 0 seconds, one at a time an hour away; twice is 0; an id not in
      // the batch is an error.
      await c.query('BEGIN');
      expect(await value<number>(c, 'SELECT pgq.event_retry($1, $2, 0)', [batch, id1])).toBe(1);
      expect(await value<number>(c, 'SELECT pgq.event_retry($1, $2, 0)', [batch, id1])).toBe(0);
      expect(await value<number>(c, `SELECT pgq.event_retry($1, $2, now() + interval '1 hour')`, [batch, id2])).toBe(1);
      expect(await warningsOf(c, 'SELECT pgq.finish_batch($1)', [batch])).toEqual({ result: 1, warnings: [] });
      await c.query('COMMIT');
      await expectSqlError(db.pool.query('SELECT pgq.event_retry($1, $2, 0)', [batch, id1]), 'PF005');
      // Finished twice: PGQ's warning and 0; a closed batch's info is a row of NULLs.
      expect(await warningsOf(c, 'SELECT pgq.finish_batch($1)', [batch])).toEqual({
        result: 0,
        warnings: [`finish_batch: batch ${batch} not found`],
      });
      expect(Object.values((await rows(db.pool, 'SELECT * FROM pgq.get_batch_info($1)', [batch]))[0]!)).toEqual(
        Array(9).fill(null),
      );

      // Due retries come back to this consumer (ev_retry 1, same type, data and extras).
      expect(await v<number>('SELECT pgq.maint_retry_events()')).toBe(1);
      expect(await v<number>('SELECT pgq.maint_retry_events()')).toBe(0);
      expect(Number(await v<string>(`SELECT pgq.ticker('orders')`))).toBeGreaterThan(Number(info.cur_tick_id));
      const b2 = (await v<string>(`SELECT pgq.next_batch('orders', 'billing')`))!;
      const again = await batchEvents(db.pool, b2);
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ ev_retry: 1, ev_type: 'order', ev_data: '{"id":1}', ev_txid: expect.any(String) });
      expect(await v<number>('SELECT pgq.finish_batch($1)', [b2])).toBe(1);

      // Queue info in PGQ's columns.
      expect(await columns(db.pool, 'SELECT * FROM pgq.get_queue_info()')).toEqual([
        ['queue_name', TEXT], ['queue_ntables', INT4], ['queue_cur_table', INT4], ['queue_rotation_period', INTERVAL],
        ['queue_switch_time', TIMESTAMPTZ], ['queue_external_ticker', BOOL], ['queue_ticker_paused', BOOL],
        ['queue_ticker_max_count', INT4], ['queue_ticker_max_lag', INTERVAL], ['queue_ticker_idle_period', INTERVAL],
        ['ticker_lag', INTERVAL], ['ev_per_sec', FLOAT8], ['ev_new', INT8], ['last_tick_id', INT8],
      ]);
      const qi = (await rows<Record<string, unknown>>(db.pool, `SELECT * FROM pgq.get_queue_info('orders')`))[0]!;
      expect(qi).toMatchObject({ queue_name: 'orders', queue_ntables: 3, queue_ticker_max_count: 1, ev_new: '0',
                                 queue_external_ticker: false, queue_ticker_paused: false });
      expect(qi.last_tick_id).toBe(await v<string>(`SELECT max(tick_id)::text FROM pgferry.tick`));
      expect(qi.ev_per_sec).toBeGreaterThan(0); // event ids over the time of the queue's last ticks
      expect(await rows(db.pool, `SELECT * FROM pgq.get_queue_info('nope')`)).toEqual([]);
      expect(await rows(db.pool, `SELECT * FROM pgq.get_consumer_info('nope')`)).toEqual([]);
    } finally {
      await c.end();
    }
  });

  it('has read-only views with the columns of PGQ\'s tables; UPDATE pgq.queue changes settings', async () => {
    await db.pool.query(`SELECT pgq.create_queue('viewed'); SELECT pgq.register_consumer('viewed', 'looker')`);
    // PGQ's own tests and scripts tune a queue this way.
    await db.pool.query(`UPDATE pgq.queue SET queue_ticker_max_count = 7, queue_ticker_idle_period = '5 minutes'
                          WHERE queue_name = 'viewed'`);
    expect((await rows(db.pool, `SELECT queue_ticker_max_count, queue_ticker_idle_period::text AS idle
                                   FROM pgferry.queue WHERE queue_name = 'viewed'`))[0]).toEqual({ queue_ticker_max_count: 7, idle: '00:05:00' });
    await expectSqlError(db.pool.query(`UPDATE pgq.queue SET queue_name = 'renamed' WHERE queue_name = 'viewed'`), 'PF003',
                         /column queue_name cannot be changed/);
    await expectSqlError(db.pool.query(`UPDATE pgq.queue SET queue_ticker_max_count = 0 WHERE queue_name = 'viewed'`), 'PF003');
    expect((await columns(db.pool, 'SELECT * FROM pgq.queue')).map(([n]) => n)).toEqual([
      'queue_id', 'queue_name', 'queue_ntables', 'queue_cur_table', 'queue_rotation_period', 'queue_switch_step1',
      'queue_switch_step2', 'queue_switch_time', 'queue_external_ticker', 'queue_disable_insert', 'queue_ticker_paused',
      'queue_ticker_max_count', 'queue_ticker_max_lag', 'queue_ticker_idle_period', 'queue_per_tx_limit', 'queue_data_pfx',
      'queue_event_seq', 'queue_tick_seq', 'queue_extra_maint',
    ]);
    // Skytools' status query (pgq/status.py).
    const status = await rows<Record<string, unknown>>(db.pool, `
      SELECT f.queue_name, f.queue_ntables, q.queue_ticker_max_count, f.ev_per_sec, f.ev_new
        FROM pgq.get_queue_info() f, pgq.queue q WHERE q.queue_name = f.queue_name AND f.queue_name = 'viewed'`);
    expect(status).toEqual([{ queue_name: 'viewed', queue_ntables: 3, queue_ticker_max_count: 7, ev_per_sec: null, ev_new: '0' }]);
    const sub = (await rows<Record<string, unknown>>(db.pool, `
      SELECT s.sub_last_tick, t.tick_snapshot::text AS snap FROM pgq.subscription s
        JOIN pgq.consumer c ON c.co_id = s.sub_consumer JOIN pgq.queue q ON q.queue_id = s.sub_queue
        JOIN pgq.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
       WHERE c.co_name = 'looker' AND q.queue_name = 'viewed'`))[0]!;
    expect(sub.snap).toMatch(/^\d+:\d+:/);
  });

  it('force_tick makes the next ticker round tick and returns the last tick', async () => {
    await db.pool.query(`SELECT pgq.create_queue('quiet')`);
    const last = await value<string>(db.pool, `SELECT pgq.force_tick('quiet')`);
    expect(last).toBe(await value<string>(db.pool, `SELECT last_tick_id::text FROM pgq.get_queue_info('quiet')`));
    const t = await value<string>(db.pool, `SELECT pgq.ticker('quiet')`);
    expect(Number(t)).toBeGreaterThan(Number(last));
    expect(await value<string>(db.pool, `SELECT pgq.force_tick('quiet')`)).toBe(t);
    await db.pool.query(`SELECT pgq.set_queue_config('quiet', 'ticker_paused', 'true')`);
    await expectSqlError(db.pool.query(`SELECT pgq.ticker('quiet')`), 'PF006', /paused/);
  });

  it('register_consumer_at rewinds (0 for a known consumer), next_batch_custom waits for min_count', async () => {
    await db.pool.query(`SELECT pgq.create_queue('rw')`);
    await db.pool.query(`SELECT pgq.set_queue_config('rw', 'ticker_max_count', '1')`);
    expect(await value<number>(db.pool, `SELECT pgq.register_consumer_at('rw', 'c', NULL)`)).toBe(1);
    const start = await value<string>(db.pool, `SELECT last_tick::text FROM pgq.get_consumer_info('rw', 'c')`);
    for (const d of ['a', 'b', 'c']) {
      await db.pool.query(`SELECT pgq.insert_event('rw', 'x', $1)`, [d]);
      await db.pool.query(`SELECT pgq.ticker('rw')`);
    }
    // Three ticks of one event each: at least 2 events means the batch spans ticks.
    const custom = (await rows<Record<string, string>>(db.pool, `SELECT * FROM pgq.next_batch_custom('rw', 'c', NULL, 2, NULL)`))[0]!;
    expect(custom.prev_tick_id).toBe(start);
    expect(Number(custom.cur_tick_event_seq) - Number(custom.prev_tick_event_seq)).toBeGreaterThanOrEqual(2);
    const spanned = await batchEvents(db.pool, custom.batch_id!);
    expect(spanned.length).toBeGreaterThanOrEqual(2);
    await db.pool.query('SELECT pgq.finish_batch($1)', [custom.batch_id]);
    // A lag condition no tick meets: no batch.
    const none = (await rows<Record<string, string | null>>(db.pool, `SELECT * FROM pgq.next_batch_custom('rw', 'c', '1 hour', NULL, NULL)`))[0]!;
    expect(Object.values(none)).toEqual(Array(7).fill(null));
    // Back to the start: every event again.
    expect(await value<number>(db.pool, `SELECT pgq.register_consumer_at('rw', 'c', $1)`, [start])).toBe(0);
    const all: string[] = [];
    for (let b = await value<string | null>(db.pool, `SELECT pgq.next_batch('rw', 'c')`); b;
         b = await value<string | null>(db.pool, `SELECT pgq.next_batch('rw', 'c')`)) {
      all.push(...(await batchEvents(db.pool, b)).map((e) => e.ev_data!));
      await db.pool.query('SELECT pgq.finish_batch($1)', [b]);
    }
    expect(all).toEqual(['a', 'b', 'c']);
    // Unregister: 1, then 0; drop_queue refuses while consumers remain.
    await db.pool.query(`SELECT pgq.register_consumer('rw', 'other')`);
    await expectSqlError(db.pool.query(`SELECT pgq.drop_queue('rw')`), 'PF006', /still has consumers/);
    expect(await value<number>(db.pool, `SELECT pgq.unregister_consumer('rw', 'c')`)).toBe(1);
    expect(await value<number>(db.pool, `SELECT pgq.unregister_consumer('rw', 'c')`)).toBe(0);
    expect(await value<number>(db.pool, `SELECT pgq.drop_queue('rw', true)`)).toBe(1);
    expect(await rows(db.pool, `SELECT * FROM pgq.get_queue_info('rw')`)).toEqual([]);
  });

  it('maintenance is listed for pgqd as pgferry calls, and every call runs', async () => {
    const ops = await rows<{ func_name: string; func_arg: string | null }>(db.pool, 'SELECT * FROM pgq.maint_operations()');
    expect(ops.length).toBeGreaterThan(0);
    for (const op of ops) {
      // pgqd's way: SELECT func(arg), or func() without an argument.
      await db.pool.query(op.func_arg === null ? `SELECT ${op.func_name}()` : `SELECT ${op.func_name}($1)`,
                          op.func_arg === null ? [] : [op.func_arg]);
    }
    expect(await value<number>(db.pool, `SELECT pgq.maint_rotate_tables_step1('orders')`)).toBe(0);
    expect(await value<number>(db.pool, 'SELECT pgq.maint_rotate_tables_step2()')).toBe(0);
    expect(await rows(db.pool, 'SELECT * FROM pgq.maint_tables_to_vacuum()')).toEqual([]);
  });
});

describe('pgq schema: logutriga, jsontriga and sqltriga', () => {
  const db = useTestDatabase();
  let batchNo = 0;

  /** Tick and read the next batch of queue "changes" (consumer "reader"). */
  async function nextEvents(): Promise<PgqEvent[]> {
    await db.pool.query(`SELECT pgq.force_tick('changes')`);
    await db.pool.query(`SELECT pgq.ticker('changes')`);
    const b = await value<string>(db.pool, `SELECT pgq.next_batch('changes', 'reader')`);
    const evs = await batchEvents(db.pool, b);
    await db.pool.query('SELECT pgq.finish_batch($1)', [b]);
    batchNo++;
    return evs;
  }
  const short = (evs: PgqEvent[]) => evs.map((e) => [e.ev_type, e.ev_data, e.ev_extra1, e.ev_extra2]);

  beforeAll(async () => {
    await installPgq(db.pool);
    await db.pool.query(`SELECT pgq.create_queue('changes'); SELECT pgq.register_consumer('changes', 'reader');
      SET timezone = 'UTC';
      CREATE TABLE app_item (id serial PRIMARY KEY, txt text, val float8, ok boolean, at timestamptz, tags text[]);`);
  });

  it('logutriga: I:/U:/D: with the key, urlencoded rows, table name in ev_extra1, backup, TRUNCATE as R', async () => {
    await db.pool.query(`
      CREATE TRIGGER t_log AFTER INSERT OR UPDATE OR DELETE ON app_item
        FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('changes', 'backup');
      CREATE TRIGGER t_log_trunc AFTER TRUNCATE ON app_item FOR EACH STATEMENT EXECUTE FUNCTION pgq.logutriga('changes')`);
    await db.pool.query(`SET timezone = 'UTC'; INSERT INTO app_item (txt) VALUES ('text1');
      INSERT INTO app_item (val, ok, at, tags) VALUES (1.5, true, '2009-09-19 11:59:48.599+00', '{NULL,"a b"}');
      INSERT INTO app_item (txt) VALUES ($$'"quoted\\string$%,@"'$$);
      UPDATE app_item SET txt = 'text2' WHERE id = 1; DELETE FROM app_item WHERE id = 2; TRUNCATE app_item`);
    expect(short(await nextEvents())).toEqual([
      ['I:id', 'id=1&txt=text1&val&ok&at&tags', 'public.app_item', null],
      ['I:id', 'id=2&txt&val=1.5&ok=t&at=2009-09-19+11%3a59%3a48.599%2b00&tags=%7bNULL%2c%22a+b%22%7d', 'public.app_item', null],
      ['I:id', 'id=3&txt=%27%22quoted%5cstring%24%25%2c%40%22%27&val&ok&at&tags', 'public.app_item', null],
      ['U:id', 'id=1&txt=text2&val&ok&at&tags', 'public.app_item', 'id=1&txt=text1&val&ok&at&tags'],
      ['D:id', 'id=2&txt&val=1.5&ok=t&at=2009-09-19+11%3a59%3a48.599%2b00&tags=%7bNULL%2c%22a+b%22%7d', 'public.app_item', null],
      ['R', '', 'public.app_item', null],
    ]);
    await db.pool.query('DROP TRIGGER t_log ON app_item; DROP TRIGGER t_log_trunc ON app_item');
  });

  it('jsontriga: a JSON ev_type with op, table and key; JSON rows with typed values', async () => {
    await db.pool.query(`
      CREATE TRIGGER t_json AFTER INSERT OR UPDATE OR DELETE ON app_item
        FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('changes');
      CREATE TRIGGER t_json_trunc AFTER TRUNCATE ON app_item FOR EACH STATEMENT EXECUTE FUNCTION pgq.jsontriga('changes')`);
    await db.pool.query(`SET timezone = 'UTC';
      INSERT INTO app_item (id, txt, val, ok, at, tags) VALUES (10, 'a"b', 2.25, false, '2009-09-19 11:59:48.599+00', '{x}');
      UPDATE app_item SET ok = true WHERE id = 10; DELETE FROM app_item WHERE id = 10; TRUNCATE app_item`);
    const type = (op: string) => `{"op":"${op}","table":["public","app_item"],"pkey":["id"]}`;
    const row = (ok: boolean) => `{"id":10,"txt":"a\\"b","val":"2.25","ok":${ok},"at":"2009-09-19T11:59:48.599+00:00","tags":"{x}"}`;
    const evs = await nextEvents();
    expect(short(evs)).toEqual([
      [type('INSERT'), row(false), 'public.app_item', null],
      [type('UPDATE'), row(true), 'public.app_item', null],
      [type('DELETE'), row(true), 'public.app_item', null],
      [type('TRUNCATE'), '{}', 'public.app_item', null],
    ]);
    expect(JSON.parse(evs[0]!.ev_data!)).toEqual({ id: 10, txt: 'a"b', val: '2.25', ok: false, at: '2009-09-19T11:59:48.599+00:00', tags: '{x}' });
    await db.pool.query('DROP TRIGGER t_json ON app_item; DROP TRIGGER t_json_trunc ON app_item');
  });

  it('sqltriga: SQL fragments, only changed columns in an UPDATE', async () => {
    await db.pool.query(`CREATE TRIGGER t_sql AFTER INSERT OR UPDATE OR DELETE ON app_item
      FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('changes')`);
    await db.pool.query(`INSERT INTO app_item (id, txt) VALUES (20, 'it''s'); UPDATE app_item SET val = 3 WHERE id = 20;
      UPDATE app_item SET val = 3 WHERE id = 20; DELETE FROM app_item WHERE id = 20`);
    expect(short(await nextEvents())).toEqual([
      ['I', `(id,txt,val,ok,at,tags) values ('20','it''s',null,null,null,null)`, 'public.app_item', null],
      ['U', `val='3' where id='20'`, 'public.app_item', null],
      ['U', `id='20' where id='20'`, 'public.app_item', null],
      ['D', `id='20'`, 'public.app_item', null],
    ]);
    await db.pool.query('DROP TRIGGER t_sql ON app_item');
  });

  it('arguments: pkey, ignore, when, ev_* expressions, _pgq_ev_* columns, SKIP, deny; key rules', async () => {
    await db.pool.query(`CREATE TABLE opt (nr int, col1 text, col2 text, _pgq_ev_extra4 text);
      CREATE TRIGGER t_opt AFTER INSERT OR UPDATE OR DELETE ON opt FOR EACH ROW EXECUTE FUNCTION
        pgq.logutriga('changes', 'pkey=nr', 'ignore=col2', 'ev_extra1=(nr + 3)::text', 'when=col1 <> ''quiet''');`);
    await db.pool.query(`INSERT INTO opt VALUES (1, 'a', 'b', 'magic'); INSERT INTO opt VALUES (2, 'quiet', 'b', NULL);
      UPDATE opt SET col2 = 'ignored' WHERE nr = 1; UPDATE opt SET col1 = 'c' WHERE nr = 1`);
    expect((await nextEvents()).map((e) => [e.ev_type, e.ev_data, e.ev_extra1, e.ev_extra4])).toEqual([
      ['I:nr', 'nr=1&col1=a', '4', 'magic'],
      ['U:nr', 'nr=1&col1=c', '4', 'magic'],
    ]);
    await expectSqlError(db.pool.query('UPDATE opt SET nr = 5 WHERE nr = 1'), 'PF006', /primary key update not allowed/);

    // SKIP in a BEFORE trigger: the event, not the row.
    await db.pool.query(`CREATE TABLE redirect (id int PRIMARY KEY, v text);
      CREATE TRIGGER t_skip BEFORE INSERT ON redirect FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('changes', 'SKIP', 'ev_type=''moved''')`);
    await db.pool.query(`INSERT INTO redirect VALUES (1, 'x')`);
    expect(await value<string>(db.pool, 'SELECT count(*) FROM redirect')).toBe('0');
    expect(short(await nextEvents())).toEqual([['moved', 'id=1&v=x', 'public.redirect', null]]);

    await db.pool.query(`CREATE TABLE nokey (v text);
      CREATE TRIGGER t_nokey AFTER INSERT OR UPDATE ON nokey FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('changes');
      CREATE TABLE locked (id int PRIMARY KEY);
      CREATE TRIGGER t_deny BEFORE INSERT ON locked FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('changes', 'deny')`);
    await db.pool.query(`INSERT INTO nokey VALUES ('')`);
    await expectSqlError(db.pool.query(`UPDATE nokey SET v = 'x'`), 'PF003', /Update\/Delete on table without pkey/);
    await expectSqlError(db.pool.query('INSERT INTO locked VALUES (1)'), 'PF006', /change not allowed \(INSERT\)/);
    await expectSqlError(db.pool.query(`CREATE TABLE bad (id int PRIMARY KEY);
      CREATE TRIGGER t_bad AFTER INSERT ON bad FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('changes', 'bogus');
      INSERT INTO bad VALUES (1)`), 'PF003', /bad argument: bogus/);
    // session_replication_role = local: nothing is queued.
    const c = await db.connect();
    try {
      await c.query(`SET session_replication_role = local; INSERT INTO nokey VALUES ('local')`);
    } finally {
      await c.end();
    }
    expect(short(await nextEvents())).toEqual([['I:', 'v=', 'public.nokey', null]]);
  });
});

describe('pgq_coop: cooperative consumers', () => {
  const db = useTestDatabase();
  beforeAll(async () => {
    await installPgq(db.pool);
    await db.pool.query(`SELECT pgq.create_queue('work'); SELECT pgq.set_queue_config('work', 'ticker_max_count', '1')`);
  });

  it('sub-consumers take different batches, one is taken over from a silent sibling, and unregister as PGQ does', async () => {
    const next = (sub: string, dead: string | null = null) =>
      value<string | null>(db.pool, `SELECT pgq_coop.next_batch('work', 'main', $1, $2::interval)`, [sub, dead]);
    expect(await value<number>(db.pool, `SELECT pgq_coop.register_subconsumer('work', 'main', 's1')`)).toBe(1);
    expect(await value<number>(db.pool, `SELECT pgq_coop.register_subconsumer('work', 'main', 's1')`)).toBe(0);
    expect(await next('s1')).toBeNull();
    for (const d of ['a', 'b']) await db.pool.query(`SELECT pgq.insert_event('work', 'x', $1)`, [d]);
    await db.pool.query('SELECT pgq.ticker()');
    const b1 = (await next('s1'))!;
    expect(await next('s1')).toBe(b1);
    // s2 registers itself on first use, and gets nothing until another tick.
    expect(await next('s2')).toBeNull();
    await db.pool.query(`SELECT pgq.insert_event('work', 'x', 'c')`);
    await db.pool.query('SELECT pgq.ticker()');
    const b2 = (await next('s2'))!;
    expect(b2).not.toBe(b1);
    expect((await batchEvents(db.pool, b1)).map((e) => e.ev_data)).toEqual(['a', 'b']);
    expect((await batchEvents(db.pool, b2)).map((e) => e.ev_data)).toEqual(['c']);
    expect(await value<number>(db.pool, 'SELECT pgq_coop.finish_batch($1)', [b2])).toBe(1);
    expect(await value<string>(db.pool, `SELECT string_agg(consumer_name, ',') FROM pgq.get_consumer_info('work')`)).toBe(
      'main,main#s1,main#s2',
    );
    // s1 goes silent: s2 takes its batch over (under a new id); s1's finish then gives 0.
    expect(await next('s2', '1 hour')).toBeNull();
    await sleep(60);
    const taken = (await next('s2', '50 milliseconds'))!;
    expect((await batchEvents(db.pool, taken)).map((e) => e.ev_data)).toEqual(['a', 'b']);
    expect(await value<number>(db.pool, 'SELECT pgq_coop.finish_batch($1)', [b1])).toBe(0);
    await expectSqlError(db.pool.query(`SELECT pgq_coop.unregister_subconsumer('work', 'main', 's2', 0)`), 'PF006', /active batch/);
    expect(await value<number>(db.pool, `SELECT pgq_coop.unregister_subconsumer('work', 'main', 's2', 1)`)).toBe(1);
    expect(await value<number>(db.pool, `SELECT pgq_coop.unregister_subconsumer('work', 'main', 's2', 0)`)).toBe(0);
    await expectSqlError(db.pool.query(`SELECT pgq_coop.next_batch_custom('work', 'main', 's1', NULL, 5, NULL)`), '0A000');
    expect(await value<number>(db.pool, `SELECT pgq.unregister_consumer('work', 'main')`)).toBe(2);
  });
});

describe('pgq schema: install', () => {
  const db = useTestDatabase({ install: false });

  it('is refused over the real PGQ, needs pgferry, and goes with pgferry; its routines pin search_path', async () => {
    // The script alone (psql) needs pgferry first.
    const c = await db.connect();
    try {
      await expectSqlError(c.query(pgqBundleSql()), 'PF006', /pgferry is not installed/);
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
    await db.pool.query('CREATE SCHEMA pgq; CREATE TABLE pgq.queue (queue_id int)');
    const refused = await installPgq(db.pool).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(InvalidStateError);
    expect((refused as Error).message).toMatch(/schema pgq holds PGQ itself/);
    expect(await pgqInstalled(db.pool)).toBe(false);
    await uninstallPgq(db.pool); // leaves PGQ's own schema alone
    expect(await value<string>(db.pool, `SELECT to_regclass('pgq.queue')::text`)).toBe('pgq.queue');
    await db.pool.query('DROP SCHEMA pgq CASCADE');
    await installPgq(db.pool);
    expect(await pgqInstalled(db.pool)).toBe(true);

    const unpinned = await rows<{ fn: string }>(
      db.pool,
      `SELECT p.oid::regprocedure::text AS fn FROM pg_proc p
        WHERE p.pronamespace IN ('pgq'::regnamespace, 'pgq_coop'::regnamespace)
          AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)`,
    );
    expect(unpinned).toEqual([]);
    // SECURITY DEFINER routines belong to pgferry's schema owner; none is callable by PUBLIC
    // but version() and quote_fqname().
    const definers = await rows<{ fn: string; owner: string }>(
      db.pool,
      `SELECT p.oid::regprocedure::text AS fn, p.proowner::regrole::text AS owner FROM pg_proc p
        WHERE p.pronamespace IN ('pgq'::regnamespace, 'pgq_coop'::regnamespace) AND p.prosecdef`,
    );
    const owner = await value<string>(db.pool, `SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'pgferry'`);
    expect(definers.length).toBeGreaterThan(0);
    expect(definers.filter((d) => d.owner !== owner)).toEqual([]);
    const publicFns = await rows<{ fn: string }>(
      db.pool,
      `SELECT p.oid::regprocedure::text AS fn FROM pg_proc p
        WHERE p.pronamespace IN ('pgq'::regnamespace, 'pgq_coop'::regnamespace)
          AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1`,
    );
    expect(publicFns.map((r) => r.fn)).toEqual(['pgq.quote_fqname(text)', 'pgq.version()', 'pgq_coop.version()']);

    await uninstallPgq(db.pool);
    expect(await pgqInstalled(db.pool)).toBe(false);
    await installPgq(db.pool);
    // Removing pgferry removes the pgq schemas built on it.
    await uninstall(db.pool);
    expect(await value<string | null>(db.pool, `SELECT to_regnamespace('pgq')::text`)).toBeNull();
    await install(db.pool);
  });
});
