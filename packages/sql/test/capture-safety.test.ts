/**
 * Capture never breaks, bends or leaks an application's writes:
 * - no column, type or table name can collide with the generated code's own names: the
 *   table is made of a column for every identifier that code contains, in both modes;
 * - the images do not depend on the writer's session settings (nor its search_path);
 * - any role that may write the table is captured with no pgferry grant, cannot forge events
 *   for another table, and may skip capture only as a member of pgferry_replicator;
 * - where DDL is not followed (no event triggers), the columns capture reads cannot be
 *   dropped or retyped underneath it; renames are fine.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { CAPTURE_VALUE_SETTINGS, install } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { drain, expectSqlError, rows, tick, value } from './helpers.js';

interface Captured {
  type: string;
  key: string[] | null;
  data: Record<string, string | null> | null;
}

async function captured(db: pg.Pool, queue: string): Promise<Captured[]> {
  await tick(db, queue);
  return (await drain(db, queue, 'c')).flatMap((d) =>
    d.events.map((e) => ({
      type: e.ev_type!,
      key: e.ev_extra2 === null ? null : (JSON.parse(e.ev_extra2) as string[]),
      data: e.ev_data === null ? null : (JSON.parse(e.ev_data) as Record<string, string | null>),
    })),
  );
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

describe('capture safety', () => {
  const db = useTestDatabase();

  async function captureQueue(queue: string): Promise<void> {
    await db.pool.query('SELECT pgferry.create_queue($1)', [queue]);
    await db.pool.query('SELECT pgferry.register_consumer($1, $2)', [queue, 'c']);
  }

  for (const mode of ['statement', 'row'] as const) {
    it(`lets no user name collide with the generated code's own (${mode} mode)`, async () => {
      // Every identifier the generated trigger functions contain becomes a column name.
      await captureQueue(`names_probe_${mode}`);
      await db.pool.query(`CREATE TABLE probe_${mode} (id int PRIMARY KEY, v text, w text)`);
      await db.pool.query(`SELECT pgferry.capture_add_table($1, $2, NULL, ARRAY['w'], 'v IS NOT NULL', $3)`, [
        `names_probe_${mode}`,
        `probe_${mode}`,
        mode,
      ]);
      const source = (
        await rows<{ src: string }>(
          db.pool,
          `SELECT string_agg(pg_get_functiondef(p.oid), ' ') AS src FROM pg_proc p
            WHERE p.pronamespace = 'pgferry'::regnamespace AND p.proname LIKE '\\_capture\\_%\\_%'
              AND p.prosrc LIKE '%probe_${mode}%'`,
        )
      )[0]!.src;
      const idents = new Set([...source.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)].map((m) => m[0].toLowerCase()));
      for (const extra of ['r', 'new', 'old', 'tg_op', 'pgferry_1', 'pgferry_2']) idents.add(extra);
      for (const own of ['k', 'pgferry_r']) idents.delete(own); // added below, pgferry_r as a composite
      const names = [...idents].sort();
      expect(names.length).toBeGreaterThan(60);
      expect(names).toEqual(expect.arrayContaining(['from', 'row', 'pgferry_queue', 'pgferry_tbl', 'pgferry_txid', 'pgferry_1', 'j', 'o', 'n']));

      // A composite column named like the row alias, with fields named like its aliases.
      await db.pool.query(`CREATE TYPE ${q(`Row "${mode}"`)} AS (pgferry_1 int, j text, k text)`);
      const table = `${q('hostile')}.${q(`T "${mode}" table %s %I`)}`;
      await db.pool.query(`CREATE SCHEMA IF NOT EXISTS hostile`);
      await db.pool.query(
        `CREATE TABLE ${table} (k text, ${names.map((n) => `${q(n)} text`).join(', ')}, "pgferry_r" ${q(`Row "${mode}"`)}, ` +
          `"A ""quoted"" Name" int, PRIMARY KEY (k, "from"))`,
      );
      const queue = `names_${mode}`;
      await captureQueue(queue);
      // The filter and the ignored columns use hostile names too.
      await db.pool.query('SELECT pgferry.capture_add_table($1, $2, NULL, $3, $4, $5)', [
        queue,
        table,
        ['pgferry_txid', 'r'],
        `"pgferry_tbl" IS DISTINCT FROM 'pgferry_tbl:skip' AND "pgferry_queue" <> 'pgferry_queue:skip' AND r.j <> 'j:skip'`,
        mode,
      ]);

      const cols = ['k', ...names, 'pgferry_r', 'A "quoted" Name'];
      const row = (k: string, tag: string) =>
        cols.map((c) => (c === 'k' ? k : c === 'pgferry_r' ? `(7,${tag},x)` : c === 'A "quoted" Name' ? '42' : `${c}:${tag}`));
      const expected = (k: string, tag: string) =>
        Object.fromEntries(
          cols.flatMap((c, i) => (c === 'pgferry_txid' || c === 'r' ? [] : [[c, row(k, tag)[i]!]])),
        );
      const colList = cols.map(q).join(', ');
      const params = (k: string, tag: string) => row(k, tag);
      const placeholders = cols.map((_, i) => `$${i + 1}`).join(', ');
      await db.pool.query(`INSERT INTO ${table} (${colList}) VALUES (${placeholders})`, params('a', 'one'));
      await db.pool.query(`INSERT INTO ${table} (${colList}) VALUES (${placeholders})`, params('b', 'two'));
      await db.pool.query(`INSERT INTO ${table} (${colList}) VALUES (${placeholders})`, params('c', 'skip'));
      await db.pool.query(`UPDATE ${table} SET "j" = 'changed', "pgferry_tbl" = 'changed' WHERE k = 'b'`);
      await db.pool.query(`UPDATE ${table} SET k = 'a2' WHERE k = 'a'`);
      await db.pool.query(`DELETE FROM ${table} WHERE k = 'b'`);
      await db.pool.query(`TRUNCATE ${table}`);

      const b = { ...expected('b', 'two'), j: 'changed', pgferry_tbl: 'changed' };
      const evs = await captured(db.pool, queue);
      // The key change's delete and insert come from one statement, in either order.
      const keyChange = evs.splice(3, 2).sort((x, y) => (x.type < y.type ? -1 : 1));
      expect(keyChange).toEqual([
        { type: 'D', key: ['a', 'from:one'], data: expected('a', 'one') },
        { type: 'I', key: ['a2', 'from:one'], data: expected('a2', 'one') },
      ]);
      expect(evs).toEqual([
        { type: 'I', key: ['a', 'from:one'], data: expected('a', 'one') },
        { type: 'I', key: ['b', 'from:two'], data: expected('b', 'two') },
        { type: 'U', key: ['b', 'from:two'], data: b },
        { type: 'D', key: ['b', 'from:two'], data: b },
        { type: 'T', key: null, data: null },
      ]);
    });
  }

  it('captures the same image whatever the writer session sets, search_path included', async () => {
    await captureQueue('settings');
    await db.pool.query(`CREATE SCHEMA shadow`);
    await db.pool.query(`CREATE TABLE shadow.calls (f text)`);
    await db.pool.query(`GRANT USAGE ON SCHEMA shadow TO PUBLIC; GRANT INSERT ON shadow.calls TO PUBLIC`);
    // Shadows of what the generated code calls, first in the writer's search_path.
    for (const [name, args, ret] of [
      ['row_to_json', 'record', 'json'],
      ['json_build_array', 'VARIADIC text[]', 'json'],
      ['nextval', 'regclass', 'bigint'],
      ['now', '', 'timestamptz'],
      ['current_setting', 'text, boolean', 'text'],
      ['pg_current_xact_id', '', 'xid8'],
    ] as const) {
      await db.pool.query(
        `CREATE FUNCTION shadow.${name}(${args}) RETURNS ${ret} LANGUAGE plpgsql AS $$ BEGIN ` +
          `INSERT INTO shadow.calls VALUES ('${name}'); RETURN NULL; END $$`,
      );
    }
    await db.pool.query(
      `CREATE FUNCTION shadow.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN INSERT INTO shadow.calls VALUES ('='); RETURN false; END $$`,
    );
    await db.pool.query(`CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.texteq)`);
    await db.pool.query(`CREATE TYPE shadow.text AS (x int)`);

    await db.pool.query(`CREATE TYPE mood AS ENUM ('sad', 'ok')`);
    await db.pool.query(
      `CREATE TABLE vals (id int PRIMARY KEY, iv interval, f4 real, f8 double precision, by bytea, d date, ts timestamp,
         tz timestamptz, tt timetz, m money, dr daterange, tr tstzrange, pt point, ds date[], ivs interval[], rc regclass,
         e mood, n numeric, j json, jb jsonb)`,
    );
    await db.pool.query(`SELECT pgferry.capture_add_table('settings', 'vals')`);
    await db.pool.query(
      `INSERT INTO vals VALUES (1, '-1 days -02:03:04.5', 3.3000002, 0.30000000000000004, '\\x00ff10', '2024-02-29',
         '1999-12-31 23:59:59.999999', '2024-06-01 12:00:00+02', '12:00:00+05:30', 1234.5, '[2024-01-01,2024-02-01)',
         '[2024-01-01 00:00+00,2024-01-02 00:00+00)', '(0.1,1e-300)', '{2024-01-31,infinity}', '{"1 mon -2 days"}', 'vals',
         'ok', 1.10, '{"a": 1, "a": 2}', '{"b": [1, 2.50]}')`,
    );
    const weird: Record<string, string> = {
      DateStyle: 'SQL, DMY',
      IntervalStyle: 'sql_standard',
      TimeZone: 'Asia/Kathmandu',
      bytea_output: 'escape',
      extra_float_digits: '-15',
      lc_monetary: 'C.utf8',
      search_path: 'shadow, pg_catalog, public',
    };
    expect(Object.keys(CAPTURE_VALUE_SETTINGS).every((s) => s in weird)).toBe(true);
    const c = await db.connect();
    try {
      for (const [k, v] of Object.entries(weird)) await c.query(`SELECT set_config($1, $2, false)`, [k, v]);
      // The same stored values, written by the weird session.
      await c.query(`INSERT INTO public.vals SELECT 2, iv, f4, f8, by, d, ts, tz, tt, m, dr, tr, pt, ds, ivs, rc, e, n, j, jb FROM public.vals WHERE id = 1`);
    } finally {
      await c.end();
    }
    const evs = await captured(db.pool, 'settings');
    expect(evs).toHaveLength(2);
    const [a, b] = evs.map((e) => ({ ...e.data, id: null }));
    expect(b).toEqual(a);
    expect(a).toMatchObject({
      iv: '-1 days -02:03:04.5',
      f4: '3.3000002',
      f8: '0.30000000000000004',
      by: '\\x00ff10',
      d: '2024-02-29',
      tz: '2024-06-01 10:00:00+00',
      ds: '{2024-01-31,infinity}',
      rc: 'public.vals',
      n: '1.10',
      j: '{"a": 1, "a": 2}',
    });
    expect(await rows(db.pool, 'SELECT * FROM shadow.calls')).toEqual([]);

    // The functions that print values of such types pin exactly these settings; TRUNCATE's
    // prints none, and neither do the functions of a table whose types print alike under
    // any settings, unless a filter (the user's SQL) is evaluated.
    await db.pool.query(`CREATE TABLE plain_vals (id int PRIMARY KEY, t text, n numeric, e mood, a int[])`);
    await db.pool.query(`CREATE TABLE filtered_vals (id int PRIMARY KEY, t text)`);
    await db.pool.query(`SELECT pgferry.capture_add_table('settings', 'plain_vals')`);
    await db.pool.query(`SELECT pgferry.capture_add_table('settings', 'filtered_vals', i_filter => 't IS NOT NULL')`);
    const configs = await rows<{ tbl: string; op: string; proconfig: string[] }>(
      db.pool,
      `SELECT ct.ct_table_name AS tbl, substring(p.proname FROM '_([a-z]+)$') AS op, p.proconfig
         FROM pgferry.capture_table ct JOIN pg_proc p ON p.pronamespace = 'pgferry'::regnamespace
          AND p.proname ~ ('^_capture_' || ct.ct_id || '_(ins|upd|del|trunc)$')
        WHERE ct.ct_table_name IN ('public.vals', 'public.plain_vals', 'public.filtered_vals')`,
    );
    expect(configs).toHaveLength(12);
    const pinned = Object.entries(CAPTURE_VALUE_SETTINGS).map(([k, v]) => `${k.toLowerCase()}=${v}`);
    for (const cfg of configs) {
      const expected = cfg.op !== 'trunc' && cfg.tbl !== 'public.plain_vals' ? pinned : [];
      expect(cfg.proconfig.map((s) => s.replace(/^([^=]+)=/, (_, k: string) => `${k.toLowerCase()}=`)).sort()).toEqual(
        [...expected, 'search_path=pg_catalog, pg_temp'].sort(),
      );
    }
    expect(await rows(db.pool, 'SELECT name, setting FROM pgferry.capture_value_settings() ORDER BY name')).toEqual(
      Object.entries(CAPTURE_VALUE_SETTINGS)
        .map(([name, setting]) => ({ name, setting }))
        .sort((x, y) => (x.name < y.name ? -1 : 1)),
    );
  });

  it('captures any role that may write the table, without a pgferry grant, and lets only the replicator skip it', async () => {
    const app = `app_${db.name}`;
    const repl = `repl_${db.name}`;
    await captureQueue('roles');
    await db.pool.query('CREATE TABLE app_data (id int PRIMARY KEY, v text)');
    await db.pool.query('CREATE TABLE other_data (id int PRIMARY KEY, v text)');
    await db.pool.query(`SELECT pgferry.capture_add_table('roles', 'app_data')`);
    await db.pool.query(`SELECT pgferry.capture_add_table('roles', 'other_data')`);
    await db.pool.query(`DO $$ BEGIN CREATE ROLE pgferry_replicator NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await db.pool.query(`CREATE ROLE ${app} LOGIN NOSUPERUSER; CREATE ROLE ${repl} LOGIN NOSUPERUSER IN ROLE pgferry_replicator`);
    const asRole = async (role: string, fn: (c: pg.Client) => Promise<void>) => {
      const c = new pg.Client({ connectionString: db.urlAs(role) });
      c.on('error', () => undefined);
      await c.connect();
      try {
        await fn(c);
      } finally {
        await c.end();
      }
    };
    try {
      await db.pool.query(`GRANT ALL ON app_data TO ${app}, ${repl}; GRANT CREATE ON SCHEMA public TO ${app}`);
      const ctId = await value<number>(db.pool, `SELECT ct_id FROM pgferry.capture_table WHERE ct_table_name = 'public.other_data'`);
      await asRole(app, async (c) => {
        await c.query(`INSERT INTO app_data VALUES (1, 'captured')`);
        await c.query(`SET pgferry.replica = on`); // not a replicator: captured all the same
        await c.query(`INSERT INTO app_data VALUES (2, 'still captured')`);
      });
      // Forging, even with USAGE on the schema: no way to write events, or to attach another
      // table's capture function to a table of its own.
      await db.pool.query(`GRANT USAGE ON SCHEMA pgferry TO ${app}`);
      await asRole(app, async (c) => {
        await expectSqlError(c.query(`INSERT INTO pgferry.event (ev_queue, ev_tbl, ev_id, ev_time, ev_txid) VALUES (1, 0, 1, now(), '1')`), '42501');
        await c.query(`CREATE TABLE mine (id int PRIMARY KEY, v text)`);
        await expectSqlError(
          c.query(`CREATE TRIGGER forge AFTER INSERT ON mine FOR EACH ROW EXECUTE FUNCTION pgferry._capture_${ctId}_ins()`),
          '42501',
        );
      });
      // Nor through insert_event: a queue carrying captured tables takes no events from writers.
      await db.pool.query(`GRANT pgferry_writer TO ${app}`);
      await asRole(app, async (c) => {
        await expectSqlError(
          c.query(`SELECT pgferry.insert_event('roles', 'I', '{"id":"9"}', 'public.other_data', '["9"]')`),
          'PF007',
        );
      });
      await asRole(repl, async (c) => {
        await c.query(`SET pgferry.replica = on`);
        await c.query(`INSERT INTO app_data VALUES (3, 'replica: not captured')`);
      });
      expect((await captured(db.pool, 'roles')).map((e) => e.key)).toEqual([['1'], ['2']]);
    } finally {
      await db.pool.query(`DROP OWNED BY ${app}, ${repl}; DROP ROLE ${app}; DROP ROLE ${repl}`);
    }
  });

  it('asks who the writer is only when the writer set pgferry.replica (every operation, both modes)', async () => {
    // NULL AND x needs x: a guard written as one AND looked the writer up in the catalog at
    // every captured statement of every application. Counted with track_functions.
    await captureQueue('who');
    const skipChecks = async (c: pg.PoolClient) =>
      Number(
        (await c.query<{ n: string }>(
          `SELECT coalesce(sum(calls), 0)::text AS n FROM pg_stat_xact_user_functions WHERE schemaname = 'pgferry' AND funcname = '_capture_skip_allowed'`,
        )).rows[0]!.n,
      );
    for (const mode of ['statement', 'row'] as const) {
      await db.pool.query(`CREATE TABLE who_${mode} (id int PRIMARY KEY, v text)`);
      await db.pool.query(`SELECT pgferry.capture_add_table('who', $1, NULL, NULL, NULL, $2)`, [`who_${mode}`, mode]);
      const c = await db.pool.connect();
      try {
        await c.query('BEGIN');
        await c.query(`SET LOCAL track_functions = 'all'`);
        // The view holds counts not yet flushed, of earlier transactions too: count from here.
        const before = await skipChecks(c);
        const checks = async () => (await skipChecks(c)) - before;
        await c.query(`INSERT INTO who_${mode} VALUES (1, 'a'), (2, 'b')`);
        await c.query(`UPDATE who_${mode} SET v = v || '!'`);
        expect(await checks()).toBe(0);
        await c.query(`DELETE FROM who_${mode} WHERE id = 1`);
        expect(await checks()).toBe(0);
        await c.query(`TRUNCATE who_${mode}`);
        expect(await checks()).toBe(0);
        await c.query(`SET LOCAL pgferry.replica = off`);
        await c.query(`INSERT INTO who_${mode} VALUES (3, 'c')`);
        expect(await checks()).toBe(0);
        // The count does see the check where it belongs: a writer who asks to skip capture.
        await c.query(`SET LOCAL pgferry.replica = on`);
        await c.query(`INSERT INTO who_${mode} VALUES (4, 'd')`);
        expect(await checks()).toBe(1);
        await c.query('COMMIT');
      } finally {
        await c.query('ROLLBACK'); // after a failed expectation: no open transaction back to the pool
        c.release();
      }
    }
    // The superuser writing as a replica was not captured; everything else was.
    const once = ['I["1"]', 'I["2"]', 'U["1"]', 'U["2"]', 'D["1"]', 'T', 'I["3"]'];
    expect((await captured(db.pool, 'who')).map((e) => `${e.type}${e.key ? JSON.stringify(e.key) : ''}`).sort()).toEqual([...once, ...once].sort());
  });

  it('keeps captured columns from being dropped or retyped, keeps their captured names through renames and reinstalls, ignores added columns (DDL not followed)', async () => {
    // Where event triggers may not be created, nothing follows DDL (capture-ddl-follow.test.ts
    // is the other case): guard views keep capture working.
    await db.pool.query('SELECT pgferry.capture_ddl_follow(false)');
    await captureQueue('ddl');
    await db.pool.query('CREATE TABLE shape (id int PRIMARY KEY, a text, b int)');
    await db.pool.query(`SELECT pgferry.capture_add_table('ddl', 'shape')`);
    const dropped = await expectSqlError(db.pool.query('ALTER TABLE shape DROP COLUMN a'), '2BP01');
    expect(dropped.detail).toMatch(/view pgferry\.capture_\d+_guard depends on column a/);
    const retyped = await expectSqlError(db.pool.query('ALTER TABLE shape ALTER COLUMN b TYPE bigint'), '0A000');
    expect(retyped.detail).toMatch(/pgferry\.capture_\d+_guard depends on column "b"/);
    await db.pool.query('ALTER TABLE shape RENAME COLUMN a TO a2');
    await db.pool.query('ALTER TABLE shape ADD COLUMN c text');
    await install(db.pool); // regenerated: still the captured names and positions
    await db.pool.query(`INSERT INTO shape VALUES (1, 'x', 2, 'new')`);
    expect(await captured(db.pool, 'ddl')).toEqual([{ type: 'I', key: ['1'], data: { id: '1', a: 'x', b: '2' } }]);
    // Removed from capture, the table is free again.
    await db.pool.query(`SELECT pgferry.capture_remove_table('ddl', 'shape')`);
    await db.pool.query('ALTER TABLE shape DROP COLUMN a2');
    await db.pool.query('SELECT pgferry.capture_ddl_follow(true)');
  });

  it('never leaves a trigger behind that would fail writes: a captured queue is dropped only with its captures', async () => {
    await captureQueue('dropped');
    await db.pool.query('CREATE TABLE orphan (id int PRIMARY KEY)');
    await db.pool.query(`SELECT pgferry.capture_add_table('dropped', 'orphan')`);
    await db.pool.query(`SELECT pgferry.unregister_consumer('dropped', 'c')`);
    await expectSqlError(db.pool.query(`SELECT pgferry.drop_queue('dropped')`), 'PF006', /tables are captured into queue "dropped": public\.orphan/);
    await db.pool.query(`SELECT pgferry.drop_queue('dropped', true)`);
    await db.pool.query('INSERT INTO orphan VALUES (1)');
    expect(await value(db.pool, `SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'orphan'::regclass AND NOT tgisinternal`)).toBe(0);
    await db.pool.query('ALTER TABLE orphan ALTER COLUMN id TYPE bigint'); // no guard left either
  });

  it('regenerates every capture function on install, and capture keeps working', async () => {
    await captureQueue('reinstall');
    await db.pool.query('CREATE TABLE again (id int PRIMARY KEY, v text)');
    await db.pool.query(`SELECT pgferry.capture_add_table('reinstall', 'again')`);
    const ct = await value<number>(db.pool, `SELECT ct_id FROM pgferry.capture_table WHERE ct_table_name = 'public.again'`);
    // An old install's function: replaced by the install.
    await db.pool.query(`CREATE OR REPLACE FUNCTION pgferry._capture_${ct}_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE 'old'; END $$`);
    await install(db.pool);
    await db.pool.query(`INSERT INTO again VALUES (1, 'after install')`);
    expect((await captured(db.pool, 'reinstall')).map((e) => e.data)).toEqual([{ id: '1', v: 'after install' }]);
  });
});
