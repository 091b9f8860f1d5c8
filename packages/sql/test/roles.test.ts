/**
 * Without superuser: a role with only LOGIN and CREATEDB installs pgferry in its own
 * database and runs the whole cycle. With a superuser install: pgferry_writer may insert
 * but not administer or consume, pgferry_reader may consume but not insert.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { install } from '@pgferry/sql';
import { dropDatabase, serverUrl, useTestDatabase } from '@pgferry/test/test-database';
import {
  connect,
  createQueue,
  dataOf,
  drain,
  expectSqlError,
  insertEvent,
  readBatch,
  register,
  rotate,
  rotateStep1,
  rotateStep2,
  completeStep2,
  tick,
  until,
  value,
} from './helpers.js';

const suffix = randomBytes(4).toString('hex');
const roles: string[] = [];
const databases: string[] = [];

async function asSuperuser<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(serverUrl('postgres'));
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function createRole(name: string, options: string): Promise<string> {
  await asSuperuser((c) => c.query(`CREATE ROLE ${c.escapeIdentifier(name)} ${options}`));
  roles.push(name);
  return name;
}

afterAll(async () => {
  for (const d of databases) await dropDatabase(d);
  await asSuperuser(async (c) => {
    for (const r of roles.reverse()) await c.query(`DROP ROLE IF EXISTS ${c.escapeIdentifier(r)}`);
  });
});

describe('privileges', () => {
  const db = useTestDatabase();

  it('installs and runs the whole cycle as a role with only LOGIN and CREATEDB', async () => {
    const owner = await createRole(`pf_owner_${suffix}`, 'LOGIN CREATEDB NOSUPERUSER NOCREATEROLE');
    const dbName = `pf_own_${suffix}`;
    const admin = await connect(serverUrl('postgres', owner));
    try {
      await admin.query(`CREATE DATABASE ${dbName}`);
      databases.push(dbName);
    } finally {
      await admin.end();
    }
    const c = await connect(serverUrl(dbName, owner));
    try {
      expect(await value<boolean>(c, 'SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user')).toBe(false);
      const result = await install(c);
      expect(result.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(await value<string>(c, `SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'pgferry'`)).toBe(owner);

      await createQueue(c, 'q');
      await c.query(`SELECT pgferry.set_queue_config('q', 'rotation_period', '1 millisecond')`);
      await register(c, 'q', 'a');
      await register(c, 'q', 'b');
      await insertEvent(c, 'q', 't', 'one');
      await c.query(`SELECT pgferry.insert_events('q', ARRAY['t'], ARRAY['two', 'three'])`);
      await tick(c, 'q');
      await value(c, `SELECT pgferry.ticker('q')`);
      expect(dataOf(await drain(c, 'q', 'a', 'cursor'))).toEqual(['one', 'three', 'two']);

      // Retry, maintenance (rotation included) and the rest of the cycle.
      await insertEvent(c, 'q', 't', 'four');
      await tick(c, 'q');
      const batch = await value<string>(c, `SELECT pgferry.next_batch('q', 'b')`);
      const events = await readBatch(c, batch, 'sql');
      expect(events.map((e) => e.ev_data)).toEqual(['one', 'two', 'three']);
      expect(await value<number>(c, `SELECT pgferry.event_retry($1, $2::bigint, 0)`, [batch, events[0]!.ev_id])).toBe(1);
      expect(await value<number>(c, 'SELECT pgferry.finish_batch($1)', [batch])).toBe(1);
      const ops = (await c.query<{ func_name: string; func_arg: string | null }>('SELECT * FROM pgferry.maint_operations()')).rows;
      for (const op of ops) {
        await c.query(`SELECT ${op.func_name}(${op.func_arg === null ? '' : '$1'})`, op.func_arg === null ? [] : [op.func_arg]);
      }
      await tick(c, 'q');
      expect(dataOf(await drain(c, 'q', 'b'))).toEqual(['four', 'one']);
      expect(dataOf(await drain(c, 'q', 'a'))).toEqual(['four']);
      await rotate(c, 'q', () => Promise.all([drain(c, 'q', 'a'), drain(c, 'q', 'b')]));
      await insertEvent(c, 'q', 't', 'five');
      await tick(c, 'q');
      expect(dataOf(await drain(c, 'q', 'a'))).toEqual(['five']);

      // Rotation step 2 sees another role's REPEATABLE READ snapshot (pg_stat_activity
      // hides most columns of other roles' sessions from a non-superuser).
      const other = await connect(serverUrl(dbName));
      try {
        await other.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await other.query('SELECT 1');
        await until(async () => {
          if ((await rotateStep1(c, 'q')) === 1) return true;
          await tick(c, 'q');
          await Promise.all([drain(c, 'q', 'a'), drain(c, 'q', 'b')]);
          return false;
        }, 'rotation step 1');
        await rotateStep2(c);
        await insertEvent(other, 'q', 't', 'repeatable');
        await tick(c, 'q');
        expect(dataOf(await drain(c, 'q', 'a'))).toEqual([]);
        await other.query('COMMIT');
      } finally {
        await other.end();
      }
      await completeStep2(c, 'q');
      await tick(c, 'q');
      expect(dataOf(await drain(c, 'q', 'a'))).toEqual(['repeatable']);
      expect(await value<number>(c, `SELECT pgferry.drop_queue('q', true)`)).toBe(1);
    } finally {
      await c.end();
    }
  });

  it('lets pgferry_writer insert only, and pgferry_reader consume only', async () => {
    await createQueue(db.pool, 'shared');
    const writer = await createRole(`pf_writer_${suffix}`, 'LOGIN IN ROLE pgferry_writer');
    const reader = await createRole(`pf_reader_${suffix}`, 'LOGIN IN ROLE pgferry_reader');
    const w = await connect(db.urlAs(writer));
    const r = await connect(db.urlAs(reader));
    try {
      expect(await value<string>(w, 'SELECT pgferry.version()')).toMatch(/^\d/);
      await expectSqlError(r.query(`SELECT pgferry.create_queue('mine')`), '42501', /permission denied for function create_queue/);
      await expectSqlError(w.query(`SELECT pgferry.create_queue('mine')`), '42501', /permission denied for function create_queue/);
      await expectSqlError(w.query(`SELECT pgferry.register_consumer('shared', 'w')`), '42501', /permission denied/);
      await expectSqlError(w.query(`SELECT pgferry.force_tick('shared')`), '42501', /permission denied/);

      await register(r, 'shared', 'rd');
      await insertEvent(w, 'shared', 't', 'from-writer');
      await w.query(`SELECT pgferry.insert_events('shared', ARRAY['t'], ARRAY['bulk'])`);
      await expectSqlError(insertEvent(w, 'nowhere', 't', 'x'), 'PF001', /queue "nowhere" does not exist/);
      await expectSqlError(insertEvent(r, 'shared', 't', 'from-reader'), '42501', /permission denied for function insert_event/);
      await expectSqlError(r.query(`SELECT pgferry.force_tick('shared')`), '42501', /permission denied/);
      await expectSqlError(r.query(`INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid) VALUES (1, 0, 1, now(), '1')`), '42501');

      await tick(db.pool, 'shared');
      expect(dataOf(await drain(r, 'shared', 'rd', 'events'))).toEqual(['bulk', 'from-writer']);
      await insertEvent(w, 'shared', 't', 'again');
      await tick(db.pool, 'shared');
      expect(dataOf(await drain(r, 'shared', 'rd', 'cursor'))).toEqual(['again']);
      await insertEvent(w, 'shared', 't', 'sql');
      await tick(db.pool, 'shared');
      expect(dataOf(await drain(r, 'shared', 'rd', 'sql'))).toEqual(['sql']);

      // Retry, dead letters and status, as the reader.
      await insertEvent(w, 'shared', 't', 'poison');
      await tick(db.pool, 'shared');
      const batch = await value<string>(r, `SELECT pgferry.next_batch('shared', 'rd')`);
      const [ev] = await readBatch(r, batch, 'events');
      expect(await value<number>(r, `SELECT pgferry.event_dead($1, $2, 'bad')`, [batch, [ev!.ev_id]])).toBe(1);
      expect(await value<number>(r, 'SELECT pgferry.finish_batch($1)', [batch])).toBe(1);
      expect(await value<string>(r, `SELECT ev_data FROM pgferry.dead_letter_list('shared', 'rd')`)).toBe('poison');
      expect(await value<string>(r, `SELECT dead_letters FROM pgferry.get_consumer_info('shared', 'rd')`)).toBe('1');
      await expectSqlError(r.query(`SELECT pgferry.dead_letter_purge('shared')`), '42501', /permission denied/);
    } finally {
      await w.end();
      await r.end();
    }
  });
});
