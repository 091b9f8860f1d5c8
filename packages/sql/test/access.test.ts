/**
 * Least privilege (issue 8, items 4 and 11): what each role may do, per queue and per
 * consumer, every action tried as every role it concerns. The model is in grants.sql's
 * header and the README: writers insert (not into capture-only queues, and never into the
 * event table directly); readers consume with consumers they own (the registering session
 * user, or a role it is a member of); admins do everything; pgferry_replicator grants no
 * function by itself.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PermissionDeniedError, translateError } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { connect, createQueue, expectSqlError, insertEvent, register, rows, tick, value } from './helpers.js';

const suffix = randomBytes(4).toString('hex');
const name = (r: string) => `pf_${r}_${suffix}`;
const WRITER = name('writer');
const READER = name('reader');
const OTHER = name('other'); // another pgferry_reader
const MEMBER = name('member'); // a member of READER (and of nothing else)
const ADMIN = name('admin');
const REPLICATOR = name('replicator');

describe('least privilege', () => {
  const db = useTestDatabase();
  const clients = new Map<string, pg.Client>();
  const as = (role: string) => clients.get(role)!;
  let queueId = 0;

  beforeAll(async () => {
    await db.pool.query(`
      CREATE ROLE ${WRITER} LOGIN IN ROLE pgferry_writer;
      CREATE ROLE ${READER} LOGIN IN ROLE pgferry_reader;
      CREATE ROLE ${OTHER} LOGIN IN ROLE pgferry_reader;
      CREATE ROLE ${MEMBER} LOGIN IN ROLE ${READER};
      CREATE ROLE ${ADMIN} LOGIN IN ROLE pgferry_admin;
      CREATE ROLE ${REPLICATOR} LOGIN IN ROLE pgferry_replicator;`);
    for (const r of [WRITER, READER, OTHER, MEMBER, ADMIN, REPLICATOR]) clients.set(r, await connect(db.urlAs(r)));
    queueId = await createQueue(db.pool, 'q');
    await createQueue(db.pool, 'q2');
    await createQueue(db.pool, 'replicated');
    await db.pool.query(`UPDATE pgferry.queue SET queue_capture_only = true WHERE queue_name = 'replicated'`);
  });

  afterAll(async () => {
    for (const c of clients.values()) await c.end();
    await db.pool.query(`DROP OWNED BY ${[WRITER, READER, OTHER, MEMBER, ADMIN, REPLICATOR].join(', ')}`);
    for (const r of [MEMBER, WRITER, READER, OTHER, ADMIN, REPLICATOR]) await db.pool.query(`DROP ROLE ${r}`);
  });

  /** PF007 naming the consumer's owner and the role to use. */
  const denied = (p: Promise<unknown>, consumer: string, owner: string) =>
    expectSqlError(p, 'PF007', new RegExp(`permission denied for consumer "${consumer}": it belongs to role "${owner}"`));

  it('creates pgferry_replicator with the other roles, NOLOGIN', async () => {
    expect(
      await rows(db.pool, `SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'pgferry\\_%' ORDER BY 1`),
    ).toEqual(['pgferry_admin', 'pgferry_reader', 'pgferry_replicator', 'pgferry_writer'].map((rolname) => ({ rolname, rolcanlogin: false })));
  });

  it('writers insert events through insert_event(s) only, and not into capture-only queues', async () => {
    const w = as(WRITER);
    await insertEvent(w, 'q', 't', 'w1');
    expect(await value(w, `SELECT pgferry.insert_events('q', ARRAY['t'], ARRAY['w2', 'w3'])`)).toBe('2');
    const hint = /only pgferry_admin or the pgferry schema owner/;
    const e = await expectSqlError(insertEvent(w, 'replicated', 't', 'forged'), 'PF007',
      /permission denied to insert events into queue "replicated": it carries captured tables/);
    expect(e.hint).toMatch(hint);
    await expectSqlError(w.query(`SELECT pgferry.insert_events('replicated', ARRAY['t'], ARRAY['forged'])`), 'PF007', /carries captured tables/);
    // Nothing else.
    for (const fn of ['create_queue', 'register_consumer', 'next_batch', 'force_tick', 'get_queue_info']) {
      const args = fn === 'create_queue' || fn === 'force_tick' || fn === 'get_queue_info' ? `'q'` : `'q', 'w'`;
      await expectSqlError(w.query(`SELECT pgferry.${fn}(${args})`), '42501', new RegExp(`permission denied for function ${fn}`));
    }
  });

  it('refuses a direct INSERT into the event table or a partition, and the id sequence, to every role', async () => {
    for (const role of [WRITER, READER, ADMIN, REPLICATOR]) {
      const c = as(role);
      for (const table of ['pgferry.event', `pgferry.event_${queueId}`, `pgferry.event_${queueId}_0`]) {
        await expectSqlError(
          c.query(`INSERT INTO ${table} (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_data) VALUES (${queueId}, 0, 1, now(), '1', 'forged')`),
          '42501', role === REPLICATOR ? /permission denied for schema pgferry/ : /permission denied for table/,
        );
      }
      await expectSqlError(c.query(`SELECT nextval('pgferry.event_${queueId}_id_seq')`), '42501',
        role === REPLICATOR ? /permission denied for schema pgferry/ : /permission denied for sequence/);
    }
    expect(await value(db.pool, `SELECT count(*)::int FROM pgferry.event WHERE ev_data = 'forged'`)).toBe(0);
  });

  it('admins and the owner insert into capture-only queues', async () => {
    await insertEvent(as(ADMIN), 'replicated', 't', 'by-admin');
    await insertEvent(db.pool, 'replicated', 't', 'by-superuser');
    expect(await value(db.pool, `SELECT count(*)::int FROM pgferry.event WHERE ev_data LIKE 'by-%'`)).toBe(2);
  });

  it('readers own the consumers they register and do everything with them; members of the owner too', async () => {
    const r = as(READER);
    await tick(db.pool, 'q'); // the writer's events are before its start
    await register(r, 'q', 'mine');
    expect(await value(db.pool, `SELECT co_owner FROM pgferry.consumer WHERE co_name = 'mine'`)).toBe(READER);
    await insertEvent(db.pool, 'q', 't', 'e1');
    await insertEvent(db.pool, 'q', 't', 'e2');
    await tick(db.pool, 'q');
    const batch = await value<string>(r, `SELECT pgferry.next_batch('q', 'mine')`);
    const evs = await rows<{ ev_id: string }>(r, 'SELECT ev_id FROM pgferry.get_batch_events($1)', [batch]);
    expect(evs.length).toBe(2);
    await rows(r, 'SELECT * FROM pgferry.get_batch_info($1)', [batch]);
    await rows(r, await value<string>(r, 'SELECT pgferry.batch_event_sql($1)', [batch]));
    await r.query('BEGIN');
    await value(r, `SELECT pgferry.get_batch_cursor($1, 'c')`, [batch]);
    await r.query('COMMIT');
    expect(await value(r, `SELECT pgferry.event_retry($1, ARRAY[$2]::bigint[], '0')`, [batch, evs[0]!.ev_id])).toBe(1);
    expect(await value(r, 'SELECT pgferry.event_retry($1, $2::bigint, 0)', [batch, evs[0]!.ev_id])).toBe(0);
    expect(await value(r, `SELECT pgferry.event_dead($1, ARRAY[$2]::bigint[], 'bad')`, [batch, evs[1]!.ev_id])).toBe(1);
    expect(await value(r, 'SELECT pgferry.finish_batch($1)', [batch])).toBe(1);
    expect(await value(r, `SELECT count(*)::int FROM pgferry.dead_letter_list('q', 'mine')`)).toBe(1);
    expect(await value(r, `SELECT pgferry.dead_letter_replay('q', 'mine')`)).toBe(1);
    expect((await rows(r, `SELECT * FROM pgferry.get_consumer_info('q', 'mine')`)).length).toBe(1);
    expect((await rows(r, `SELECT * FROM pgferry.get_queue_info('q')`)).length).toBe(1);

    // A member of the owning role acts on it as the owner does: cooperative, sub-consumers.
    const m = as(MEMBER);
    expect(await value(m, `SELECT pgferry.next_batch('q', 'mine')`)).toBeNull();
    expect(await value(m, `SELECT pgferry.register_subconsumer('q', 'mine', 's1')`)).toBe(1);
    expect(await value(db.pool, `SELECT co_owner FROM pgferry.consumer WHERE co_name = 'mine#s1'`)).toBe(READER);
    await insertEvent(db.pool, 'q', 't', 'e3');
    await tick(db.pool, 'q');
    const sub = await value<string>(r, `SELECT pgferry.next_batch('q', 'mine', 's1')`);
    expect(await value(m, 'SELECT pgferry.finish_batch($1)', [sub])).toBe(1);
    expect(await value(r, `SELECT pgferry.unregister_subconsumer('q', 'mine', 's1')`)).toBe(1);
    expect(await value(m, `SELECT pgferry.unregister_consumer('q', 'mine')`)).toBe(1);
    await register(m, 'q', 'mine'); // its name still belongs to READER, of which m is a member
  });

  it('refuses every action on another role\'s consumer with PF007 (PermissionDeniedError), on every path', async () => {
    const r = as(READER);
    const o = as(OTHER);
    await register(r, 'q', 'theirs');
    await register(r, 'q', 'coop');
    await value(r, `SELECT pgferry.register_subconsumer('q', 'coop', 's1')`);

    // Idle: no new tick (next_batch's lock-free paths).
    await denied(o.query(`SELECT pgferry.next_batch('q', 'theirs')`), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.next_batch('q', 'coop', 's1')`), 'coop#s1', READER);
    await insertEvent(db.pool, 'q', 't', 'x');
    await tick(db.pool, 'q');
    // With work to take.
    await denied(o.query(`SELECT pgferry.next_batch('q', 'theirs')`), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.next_batch('q', 'coop', 's1', '0 seconds')`), 'coop', READER);
    const batch = await value<string>(r, `SELECT pgferry.next_batch('q', 'theirs')`);
    const [ev] = await rows<{ ev_id: string }>(r, 'SELECT ev_id FROM pgferry.get_batch_events($1)', [batch]);
    await denied(o.query('SELECT pgferry.next_batch($1, $2)', ['q', 'theirs']), 'theirs', READER); // the open batch
    await denied(o.query('SELECT * FROM pgferry.get_batch_events($1)', [batch]), 'theirs', READER);
    await denied(o.query('SELECT pgferry.batch_event_sql($1)', [batch]), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.get_batch_cursor($1, 'c')`, [batch]), 'theirs', READER);
    await denied(o.query('SELECT * FROM pgferry.get_batch_info($1)', [batch]), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.event_retry($1, ARRAY[$2]::bigint[], '0')`, [batch, ev!.ev_id]), 'theirs', READER);
    await denied(o.query('SELECT pgferry.event_retry($1, $2::bigint, 0)', [batch, ev!.ev_id]), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.event_dead($1, ARRAY[$2]::bigint[], 'x')`, [batch, ev!.ev_id]), 'theirs', READER);
    await denied(o.query('SELECT pgferry.finish_batch($1)', [batch]), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.register_consumer('q', 'theirs')`), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.register_consumer('q2', 'theirs')`), 'theirs', READER); // the name, on any queue
    await denied(o.query(`SELECT pgferry.register_subconsumer('q', 'theirs', 'x')`), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.register_subconsumer('q', 'coop', 's2')`), 'coop', READER);
    await denied(o.query(`SELECT pgferry.unregister_subconsumer('q', 'coop', 's1')`), 'coop#s1', READER);
    await denied(o.query(`SELECT pgferry.unregister_consumer('q', 'theirs')`), 'theirs', READER);
    await denied(o.query(`SELECT pgferry.dead_letter_replay('q', 'theirs')`), 'theirs', READER);
    const err = await o.query(`SELECT pgferry.finish_batch(${batch})`).catch((e: unknown) => translateError(e));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).hint).toBe(`Connect as a member of role ${READER} (the role that registered it) or of pgferry_admin.`);
    // Nothing moved: the owner still holds the batch and finishes it.
    expect(await value(r, 'SELECT pgferry.finish_batch($1)', [batch])).toBe(1);
    // Status stays readable by every reader.
    expect((await rows(o, `SELECT * FROM pgferry.get_consumer_info('q', 'theirs')`)).length).toBe(1);
    await rows(o, `SELECT * FROM pgferry.dead_letter_list('q')`);
  });

  it('leaves administration to admins: readers may not rewind, purge, tick, maintain or administer queues', async () => {
    const r = as(READER);
    const calls: [string, string][] = [
      [`SELECT pgferry.register_consumer_at('q', 'theirs', 1)`, 'register_consumer_at'],
      [`SELECT pgferry.dead_letter_purge('q')`, 'dead_letter_purge'],
      [`SELECT pgferry.create_queue('mine')`, 'create_queue'],
      [`SELECT pgferry.drop_queue('q')`, 'drop_queue'],
      [`SELECT pgferry.set_queue_config('q', 'max_retries', '1')`, 'set_queue_config'],
      [`SELECT pgferry.force_tick('q')`, 'force_tick'],
      [`SELECT pgferry.ticker()`, 'ticker'],
      [`SELECT * FROM pgferry.maint_operations()`, 'maint_operations'],
      [`SELECT pgferry.maint_retry_events()`, 'maint_retry_events'],
      [`SELECT pgferry.maint_rotate_tables_step1('q')`, 'maint_rotate_tables_step1'],
      [`SELECT pgferry.maint_tick_cleanup('q')`, 'maint_tick_cleanup'],
      [`SELECT pgferry.insert_event('q', 't', 'd')`, 'insert_event'],
      [`CALL pgferry.maint()`, 'maint'],
    ];
    for (const [sql, fn] of calls) {
      await expectSqlError(r.query(sql), '42501', new RegExp(`permission denied for (function|procedure) ${fn}`));
    }
  });

  it('lets admins act on every consumer and administer everything; pgferry_replicator alone grants no function', async () => {
    const a = as(ADMIN);
    await register(as(READER), 'q', 'adm');
    await insertEvent(a, 'q', 't', 'y');
    await tick(a, 'q');
    const batch = await value<string>(a, `SELECT pgferry.next_batch('q', 'adm')`);
    expect((await rows(a, 'SELECT * FROM pgferry.get_batch_events($1)', [batch])).length).toBeGreaterThan(0);
    expect(await value(a, 'SELECT pgferry.finish_batch($1)', [batch])).toBe(1);
    const t = await value<string>(a, `SELECT max(tick_id) FROM pgferry.tick WHERE tick_queue = ${queueId}`);
    expect(await value(a, `SELECT pgferry.register_consumer_at('q', 'adm', $1)`, [t])).toBe(1);
    expect(await value(a, `SELECT pgferry.register_subconsumer('q', 'adm', 's')`)).toBe(1);
    expect(await value(a, `SELECT pgferry.unregister_subconsumer('q', 'adm', 's')`)).toBe(1);
    expect(await value(a, `SELECT pgferry.dead_letter_replay('q', 'adm')`)).toBe(0);
    expect(await value(a, `SELECT pgferry.dead_letter_purge('q', 'adm')`)).toBe(0);
    expect(await value(a, `SELECT pgferry.unregister_consumer('q', 'adm')`)).toBe(1);
    expect(await value(a, `SELECT pgferry.set_queue_config('q2', 'max_retries', '2')`)).toBe(1);
    await a.query('CALL pgferry.maint()');
    expect(await value(a, `SELECT pgferry.create_queue('by_admin')`)).toBe(1);
    expect(await value(a, `SELECT pgferry.drop_queue('by_admin')`)).toBe(1);

    const p = as(REPLICATOR);
    for (const sql of [`SELECT pgferry.insert_event('q', 't', 'd')`, `SELECT pgferry.register_consumer('q', 'p')`, `SELECT * FROM pgferry.get_queue_info()`]) {
      await expectSqlError(p.query(sql), '42501', /permission denied for (schema pgferry|function)/);
    }
  });
});
