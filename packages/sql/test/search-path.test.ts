/**
 * search_path hijack (issue 8, item 10). An unprivileged role owns a schema that a
 * superuser's search_path puts first, even before pg_catalog, and plants there a
 * same-signature copy of every pg_catalog function, aggregate and operator whose name
 * pgferry's SQL mentions (derived from the bundle's text, not listed by hand). Each copy
 * records its call (a row, and a WARNING that survives a rollback) and then does what the
 * original does. The superuser then installs, upgrades, runs every entry point and
 * uninstalls: no planted object may ever run. A positive control proves the planted
 * objects do run when a name is not qualified.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { bundleSql, install, installedVersion, uninstall } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { connect, rows, value } from './helpers.js';

const attacker = `pf_attacker_${randomBytes(4).toString('hex')}`;

/** Every name written as a call, `name(` (qualified or not), in pgferry's SQL. */
function calledNames(sql: string): string[] {
  return [...new Set([...sql.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)].map((m) => m[1]!.toLowerCase()))];
}

/**
 * Every run of operator characters in pgferry's SQL, plus the operators that SQL syntax
 * implies without writing them (IN, BETWEEN, LIKE, IS DISTINCT FROM, CASE x WHEN, ANY).
 */
function operatorNames(sql: string): string[] {
  const written = [...sql.matchAll(/[+\-*/<>=~!@#%^&|?]+/g)].map((m) => m[0]);
  return [...new Set([...written, '=', '<>', '<', '<=', '>', '>=', '~~', '!~~', '~~*', '!~~*'])];
}

// Run by the attacker: a recording copy of each pg_catalog function, aggregate and operator
// with one of the given names. What cannot be written in PL/pgSQL (internal, cstring and
// other pseudo-type arguments, aggregates with an internal state) is reported as skipped.
const PLANT = `
DO $plant$
DECLARE
  f record;
  o record;
  v_args text[];
  v_call text[];
  v_ret text;
  v_ok boolean;
  v_sig text;
  v_fn text;
  v_skipped text[] := '{}';
  v_planted int := 0;
  c_qualified constant text := 'SELECT pg_catalog.format(''%I.%I'', n.nspname, p.proname) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = $1';
  v_qn text;
  v_qf text;
  v_strict boolean;
  c_poly constant text[] := ARRAY['anyelement', 'anyarray', 'anynonarray', 'anyenum', 'anyrange',
    'anymultirange', 'anycompatible', 'anycompatiblearray', 'anycompatiblenonarray',
    'anycompatiblerange', 'anycompatiblemultirange'];
BEGIN
  FOR f IN
    SELECT p.oid, p.proname, p.prokind, p.proretset, p.prorettype, ARRAY(SELECT pg_catalog.unnest(p.proargtypes)) AS argtypes,
           p.provariadic, p.proargmodes, p.proisstrict
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($1::text[])
       AND p.prokind IN ('f', 'a')
  LOOP
    v_ok := f.proargmodes IS NULL OR NOT (f.proargmodes && ARRAY['o', 't', 'b']::"char"[]);
    v_args := '{}';
    v_call := '{}';
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(f.argtypes), 0) LOOP
      DECLARE
        t oid := f.argtypes[i];
        tn text := pg_catalog.format_type(t, NULL);
        is_var boolean := f.provariadic <> 0 AND i = pg_catalog.cardinality(f.argtypes);
      BEGIN
        IF tn = '"any"' THEN
          tn := CASE WHEN is_var THEN 'text[]' ELSE 'text' END;
        ELSIF (SELECT typtype FROM pg_catalog.pg_type WHERE oid = t) = 'p' AND NOT tn = ANY (c_poly) THEN
          v_ok := false;
        END IF;
        v_args := v_args || (CASE WHEN is_var THEN 'VARIADIC ' ELSE '' END || tn);
        v_call := v_call || (CASE WHEN is_var THEN 'VARIADIC $' ELSE '$' END || i);
      END;
    END LOOP;
    v_ret := pg_catalog.format_type(f.prorettype, NULL);
    IF (SELECT typtype FROM pg_catalog.pg_type WHERE oid = f.prorettype) = 'p'
       AND NOT (v_ret = ANY (c_poly) OR v_ret = 'void') THEN
      v_ok := false;
    END IF;
    v_sig := pg_catalog.format('%s(%s)', f.proname, pg_catalog.array_to_string(v_args, ', '));
    IF NOT v_ok THEN
      v_skipped := v_skipped || v_sig;
      CONTINUE;
    END IF;
    BEGIN
    IF f.prokind = 'f' THEN
      EXECUTE pg_catalog.format(
        'CREATE FUNCTION evil.%I(%s) RETURNS %s%s LANGUAGE plpgsql %s AS %L',
        f.proname, pg_catalog.array_to_string(v_args, ', '),
        CASE WHEN f.proretset THEN 'SETOF ' ELSE '' END, v_ret,
        CASE WHEN f.proisstrict THEN 'STRICT' ELSE '' END,
        pg_catalog.format('BEGIN INSERT INTO evil.calls (what) VALUES (%L); RAISE WARNING %L; %s END',
          v_sig, 'planted ' || v_sig || ' ran',
          CASE WHEN f.proretset THEN pg_catalog.format('RETURN QUERY SELECT * FROM pg_catalog.%I(%s);', f.proname, pg_catalog.array_to_string(v_call, ', '))
               WHEN v_ret = 'void' THEN pg_catalog.format('PERFORM pg_catalog.%I(%s);', f.proname, pg_catalog.array_to_string(v_call, ', '))
               ELSE pg_catalog.format('RETURN pg_catalog.%I(%s);', f.proname, pg_catalog.array_to_string(v_call, ', ')) END));
      v_planted := v_planted + 1;
    ELSE
      -- An aggregate: the same transition, through a recording copy of its function.
      SELECT a.aggtransfn::oid AS transfn, a.aggtranstype, a.aggfinalfn::oid AS finalfn, a.agginitval,
             pg_catalog.format_type(a.aggtranstype, NULL) AS stype
        INTO o FROM pg_catalog.pg_aggregate a WHERE a.aggfnoid = f.oid;
      IF (SELECT typtype FROM pg_catalog.pg_type WHERE oid = o.aggtranstype) = 'p' AND NOT o.stype = ANY (c_poly) THEN
        v_skipped := v_skipped || v_sig;
        CONTINUE;
      END IF;
      v_fn := pg_catalog.format('agg_%s', f.oid);
      EXECUTE c_qualified INTO v_qn USING o.transfn;
      EXECUTE c_qualified INTO v_qf USING o.finalfn;
      SELECT proisstrict INTO v_strict FROM pg_catalog.pg_proc WHERE oid = o.transfn;
      EXECUTE pg_catalog.format(
        'CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql %s AS %L',
        v_fn, pg_catalog.array_to_string(ARRAY[o.stype] || v_args, ', '), o.stype,
        CASE WHEN v_strict THEN 'STRICT' ELSE '' END,
        pg_catalog.format('BEGIN INSERT INTO evil.calls (what) VALUES (%L); RAISE WARNING %L; RETURN %s(%s); END',
          v_sig, 'planted ' || v_sig || ' ran', v_qn,
          pg_catalog.array_to_string(ARRAY['$1'] || (SELECT pg_catalog.array_agg('$' || (i + 1)) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(v_args)) i), ', ')));
      EXECUTE pg_catalog.format('CREATE AGGREGATE evil.%I(%s) (SFUNC = evil.%I, STYPE = %s%s%s)',
        f.proname, CASE WHEN pg_catalog.cardinality(v_args) = 0 THEN '*' ELSE pg_catalog.array_to_string(v_args, ', ') END,
        v_fn, o.stype,
        CASE WHEN o.finalfn <> 0 THEN pg_catalog.format(', FINALFUNC = %s', v_qf) ELSE '' END,
        CASE WHEN o.agginitval IS NOT NULL THEN pg_catalog.format(', INITCOND = %L', o.agginitval) ELSE '' END);
      v_planted := v_planted + 1;
    END IF;
    EXCEPTION WHEN OTHERS THEN
      v_skipped := v_skipped || (v_sig || ': ' || SQLERRM);
    END;
  END LOOP;

  FOR o IN
    SELECT op.oid, op.oprname, op.oprkind, op.oprleft, op.oprright, op.oprresult, op.oprcode::oid AS code,
           pg_catalog.format_type(op.oprleft, NULL) AS l, pg_catalog.format_type(op.oprright, NULL) AS r,
           pg_catalog.format_type(op.oprresult, NULL) AS res
      FROM pg_catalog.pg_operator op
     WHERE op.oprnamespace = 'pg_catalog'::regnamespace AND op.oprname = ANY ($2::text[]) AND op.oprcode <> 0
  LOOP
    v_sig := pg_catalog.format('operator %s(%s, %s)', o.oprname, o.l, o.r);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid IN (o.oprleft, o.oprright, o.oprresult)
                AND typtype = 'p' AND NOT pg_catalog.format_type(oid, NULL) = ANY (c_poly)) THEN
      v_skipped := v_skipped || v_sig;
      CONTINUE;
    END IF;
    v_fn := pg_catalog.format('op_%s', o.oid);
    EXECUTE c_qualified INTO v_qn USING o.code;
    SELECT proisstrict INTO v_strict FROM pg_catalog.pg_proc WHERE oid = o.code;
    BEGIN
    EXECUTE pg_catalog.format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql %s AS %L',
      v_fn, CASE WHEN o.oprkind = 'b' THEN o.l || ', ' || o.r ELSE o.r END, o.res,
      CASE WHEN v_strict THEN 'STRICT' ELSE '' END,
      pg_catalog.format('BEGIN INSERT INTO evil.calls (what) VALUES (%L); RAISE WARNING %L; RETURN %s(%s); END',
        v_sig, 'planted ' || v_sig || ' ran', v_qn,
        CASE WHEN o.oprkind = 'b' THEN '$1, $2' ELSE '$1' END));
    EXECUTE pg_catalog.format('CREATE OPERATOR evil.%s (%sRIGHTARG = %s, FUNCTION = evil.%I)',
      o.oprname, CASE WHEN o.oprkind = 'b' THEN 'LEFTARG = ' || o.l || ', ' ELSE '' END, o.r, v_fn);
    v_planted := v_planted + 1;
    EXCEPTION WHEN OTHERS THEN
      v_skipped := v_skipped || (v_sig || ': ' || SQLERRM);
    END;
  END LOOP;
  PERFORM pg_catalog.set_config('evil.planted', v_planted::text, false);
  PERFORM pg_catalog.set_config('evil.skipped', pg_catalog.array_to_string(v_skipped, '; '), false);
END $plant$`;

interface Step {
  name: string;
  run: (c: pg.Client) => Promise<unknown>;
}

/** A clean superuser connection (search_path untouched), for what the test itself must do. */
let admin: pg.Pool;

const one = async <T = unknown>(c: pg.Client, text: string, params: unknown[] = []): Promise<T> => value<T>(c, text, params);

/** An open batch of consumer "c" on queue "q", after an event and a tick. */
async function openBatch(c: pg.Client, consumer = 'c'): Promise<string> {
  await one(c, `SELECT pgferry.insert_event('q', 't', 'for-batch')`);
  await one(c, `SELECT pgferry.force_tick('q')`);
  const batch = await one<string | null>(c, `SELECT pgferry.next_batch('q', $1)`, [consumer]);
  expect(batch).not.toBeNull();
  return batch!;
}

async function eventIds(c: pg.Client, batch: string): Promise<string[]> {
  return (await rows<{ ev_id: string }>(c, 'SELECT ev_id FROM pgferry.get_batch_events($1)', [batch])).map((r) => r.ev_id);
}

/**
 * Capture's entry points: capture_add_table, writes to a captured table in each trigger
 * mode (the writes themselves use no operator, so only pgferry's code could run a planted
 * one), capture_tables, capture_remove_table; drop_queue (force) removes the rest.
 */
const CAPTURE_ENTRY_POINTS: Step[] = [
  {
    name: 'capture_add_table (statement, row)',
    run: async (c) => {
      for (const mode of ['statement', 'row']) {
        await c.query(`CREATE TABLE public.cap_${mode} (id pg_catalog.int4 PRIMARY KEY, v pg_catalog.text, secret pg_catalog.text)`);
        await rows(c, `SELECT * FROM pgferry.capture_add_table('q', 'public.cap_${mode}', NULL, '{secret}', 'v IS DISTINCT FROM ''skip''', '${mode}')`);
      }
    },
  },
  {
    name: 'writes to captured tables',
    run: async (c) => {
      for (const mode of ['statement', 'row']) {
        await c.query(`INSERT INTO public.cap_${mode} VALUES (1, 'a', 'x'), (2, 'skip', 'y')`);
        await c.query(`UPDATE public.cap_${mode} SET v = 'b'`);
        await c.query(`DELETE FROM public.cap_${mode}`);
        await c.query(`INSERT INTO public.cap_${mode} VALUES (3, 'c', 'z')`);
        await c.query(`TRUNCATE public.cap_${mode}`);
      }
    },
  },
  { name: 'capture_tables', run: (c) => rows(c, `SELECT * FROM pgferry.capture_tables('q')`) },
  { name: 'capture_value_settings', run: (c) => rows(c, `SELECT * FROM pgferry.capture_value_settings()`) },
  { name: 'capture_remove_table', run: (c) => one(c, `SELECT pgferry.capture_remove_table('q', 'public.cap_row')`) },
];

/** Every entry point of the SQL layer, in an order where each has something to act on. */
const ENTRY_POINTS: Step[] = [
  { name: 'install', run: (c) => install(c) },
  { name: 'upgrade (install again)', run: (c) => install(c) },
  { name: 'installedVersion', run: (c) => installedVersion(c) },
  { name: 'create_queue', run: (c) => one(c, `SELECT pgferry.create_queue('q')`) },
  { name: 'create_queue (2 tables)', run: (c) => one(c, `SELECT pgferry.create_queue('q2', 2)`) },
  {
    name: 'set_queue_config',
    run: async (c) => {
      for (const [k, v] of [['ticker_max_count', '10'], ['ticker_max_lag', '1 second'], ['ticker_idle_period', '1 minute'],
        ['rotation_period', '1 millisecond'], ['max_retries', '3'], ['ticker_paused', 'false'],
        ['external_ticker', 'false'], ['disable_insert', 'false'], ['ntables', '4']]) {
        await one(c, 'SELECT pgferry.set_queue_config($1, $2, $3)', ['q2', k, v]);
      }
      await one(c, `SELECT pgferry.set_queue_config('q', 'rotation_period', '1 millisecond')`);
    },
  },
  { name: 'register_consumer', run: (c) => one(c, `SELECT pgferry.register_consumer('q', 'c')`) },
  { name: 'register_consumer (second)', run: (c) => one(c, `SELECT pgferry.register_consumer('q', 'c2')`) },
  {
    // Migration 004 once more, over existing queues and consumers, as an upgrade runs it.
    name: 'upgrade (migration 004 over existing rows)',
    run: async (c) => {
      await admin.query(`
        ALTER TABLE pgferry.queue DROP COLUMN queue_capture_only;
        ALTER TABLE pgferry.consumer DROP COLUMN co_owner;
        DELETE FROM pgferry.migration WHERE id = 4`);
      expect((await install(c)).applied).toEqual([4]);
    },
  },
  { name: 'insert_event', run: (c) => one(c, `SELECT pgferry.insert_event('q', 't', 'one', 'x1', 'x2', 'x3', 'x4')`) },
  { name: 'insert_events', run: (c) => one(c, `SELECT pgferry.insert_events('q', ARRAY['t'], ARRAY['two', 'three'], ARRAY['a', 'b'])`) },
  { name: 'ticker(queue)', run: (c) => one(c, `SELECT pgferry.ticker('q')`) },
  { name: 'ticker()', run: (c) => one(c, `SELECT pgferry.ticker()`) },
  { name: 'force_tick', run: (c) => one(c, `SELECT pgferry.force_tick('q')`) },
  {
    name: 'next_batch, get_batch_info, get_batch_events, batch_event_sql (and its SQL), get_batch_cursor, finish_batch',
    run: async (c) => {
      const batch = await one<string>(c, `SELECT pgferry.next_batch('q', 'c')`);
      await one(c, `SELECT pgferry.next_batch('q', 'c')`); // the open batch again
      await rows(c, 'SELECT * FROM pgferry.get_batch_info($1)', [batch]);
      expect((await eventIds(c, batch)).length).toBe(3);
      // The consumer runs the generated SQL itself, under its own search_path.
      const sql = await one<string>(c, 'SELECT pgferry.batch_event_sql($1)', [batch]);
      expect((await rows(c, sql)).length).toBe(3);
      await c.query('BEGIN');
      await one(c, `SELECT pgferry.get_batch_cursor($1, 'cur')`, [batch]);
      expect((await rows(c, 'FETCH ALL FROM cur')).length).toBe(3);
      await c.query('COMMIT');
      expect(await one(c, 'SELECT pgferry.finish_batch($1)', [batch])).toBe(1);
      // ticker('q') ticked the events at once ("c" was waiting): force_tick's empty batch
      // is left; then the idle poll.
      for (let b; (b = await one<string | null>(c, `SELECT pgferry.next_batch('q', 'c')`)) !== null; ) {
        await one(c, 'SELECT pgferry.finish_batch($1)', [b]);
      }
    },
  },
  {
    name: 'event_retry (both forms), event_dead',
    run: async (c) => {
      await one(c, `SELECT pgferry.insert_events('q', ARRAY['t'], ARRAY['r1', 'r2', 'd1'])`);
      const batch = await openBatch(c);
      const ids = await eventIds(c, batch);
      await one(c, `SELECT pgferry.event_retry($1, ARRAY[$2]::bigint[], '0 seconds')`, [batch, ids[0]]);
      await one(c, 'SELECT pgferry.event_retry($1, $2::bigint, 0)', [batch, ids[1]]);
      await one(c, `SELECT pgferry.event_dead($1, ARRAY[$2]::bigint[], 'bad')`, [batch, ids[2]]);
      await one(c, 'SELECT pgferry.finish_batch($1)', [batch]);
    },
  },
  { name: 'dead_letter_list', run: (c) => rows(c, `SELECT * FROM pgferry.dead_letter_list('q')`) },
  { name: 'dead_letter_list (consumer)', run: (c) => rows(c, `SELECT * FROM pgferry.dead_letter_list('q', 'c', 10)`) },
  { name: 'dead_letter_replay', run: (c) => one(c, `SELECT pgferry.dead_letter_replay('q', 'c')`) },
  {
    name: 'dead_letter_purge',
    run: async (c) => {
      const batch = await openBatch(c);
      await one(c, `SELECT pgferry.event_dead($1, (SELECT pg_catalog.array_agg(ev_id) FROM pgferry.get_batch_events($1)), 'x')`, [batch]);
      await one(c, 'SELECT pgferry.finish_batch($1)', [batch]);
      await one(c, `SELECT pgferry.dead_letter_purge('q', 'c', '0 seconds')`);
      await one(c, `SELECT pgferry.dead_letter_purge('q')`);
    },
  },
  {
    name: 'cooperative: register_subconsumer, next_batch(sub), take-over, unregister_subconsumer',
    run: async (c) => {
      await one(c, `SELECT pgferry.register_subconsumer('q', 'co', 's1')`);
      await one(c, `SELECT pgferry.register_subconsumer('q', 'co', 's2')`);
      await one(c, `SELECT pgferry.insert_event('q', 't', 'coop')`);
      await one(c, `SELECT pgferry.force_tick('q')`);
      const b1 = await one<string>(c, `SELECT pgferry.next_batch('q', 'co', 's1')`);
      await rows(c, 'SELECT * FROM pgferry.get_batch_events($1)', [b1]);
      const b2 = await one<string>(c, `SELECT pgferry.next_batch('q', 'co', 's2', '0 seconds')`);
      await one(c, `SELECT pgferry.next_batch('q', 'co', 's2', '1 hour')`);
      await one(c, 'SELECT pgferry.finish_batch($1)', [b2]);
      await one(c, `SELECT pgferry.next_batch('q', 'co', 's1')`); // idle poll
      await one(c, `SELECT pgferry.unregister_subconsumer('q', 'co', 's2')`);
    },
  },
  { name: 'register_consumer_at', run: (c) => one(c, `SELECT pgferry.register_consumer_at('q', 'c2', (SELECT pg_catalog.max(tick_id) FROM pgferry.tick))`) },
  { name: 'get_queue_info()', run: (c) => rows(c, 'SELECT * FROM pgferry.get_queue_info()') },
  { name: 'get_queue_info(queue)', run: (c) => rows(c, `SELECT * FROM pgferry.get_queue_info('q')`) },
  { name: 'get_consumer_info()', run: (c) => rows(c, 'SELECT * FROM pgferry.get_consumer_info()') },
  { name: 'get_consumer_info(queue, consumer)', run: (c) => rows(c, `SELECT * FROM pgferry.get_consumer_info('q', 'co')`) },
  {
    name: 'maint_operations and each maintenance function (rotation included)',
    run: async (c) => {
      for (let i = 0; i < 3; i++) {
        for (const op of await rows<{ func_name: string; func_arg: string | null }>(c, 'SELECT * FROM pgferry.maint_operations()')) {
          await c.query(`SELECT ${op.func_name}(${op.func_arg === null ? '' : '$1'})`, op.func_arg === null ? [] : [op.func_arg]);
        }
        for (const consumer of ['c', 'c2']) {
          const b = await one<string | null>(c, 'SELECT pgferry.next_batch($1, $2)', ['q', consumer]);
          if (b !== null) await one(c, 'SELECT pgferry.finish_batch($1)', [b]);
        }
        await one(c, `SELECT pgferry.force_tick('q')`);
      }
    },
  },
  {
    name: 'internal helpers called directly by an administrator',
    run: async (c) => {
      // Typed literals: an unknown literal given to a function that returns pgferry.queue is
      // resolved against the planted objects (the parser's business, not pgferry's code).
      await rows(c, `SELECT * FROM pgferry._queue('q'::pg_catalog.text)`);
      await one(c, `SELECT pgferry._check_name('queue', 'q')`);
      await one(c, `SELECT pgferry._consumer_id('c')`);
      await one(c, `SELECT pgferry._make_tick(pgferry._queue('q'::pg_catalog.text), 0, true)`);
      const qid = `(pgferry._queue('q'::pg_catalog.text)).queue_id`;
      await one(c, `SELECT pgferry._events_between(${qid}, '1:1:'::pg_catalog.pg_snapshot, pg_catalog.pg_current_snapshot())`);
      await one(c, `SELECT pgferry._pending_since(${qid}, 0::pg_catalog.int8)`);
      await one(c, `SELECT pgferry._tick_writers(x) FROM pgferry.tick x WHERE x.tick_queue OPERATOR(pg_catalog.=) ${qid} LIMIT 1`);
      await one(c, `SELECT pgferry._session_is_admin()`);
      await one(c, `SELECT pgferry._check_consumer_access(pgferry._consumer_id('c'))`);
      await one(c, `SELECT pgferry._check_capture_only_insert('q')`);
      await one(c, `SELECT pgferry._event_seq_value((pgferry._queue('q'::pg_catalog.text)).queue_event_seq)`);
      await one(c, `SELECT pgferry._rotation_blocked_by(pgferry._queue('q'::pg_catalog.text))`);
      await c.query('BEGIN');
      await rows(c, `SELECT * FROM pgferry._subscription('q'::pg_catalog.text, 'c'::pg_catalog.text)`);
      await c.query('COMMIT');
      const batch = await openBatch(c);
      await rows(c, 'SELECT * FROM pgferry._open_batch($1)', [batch]);
      await one(c, 'SELECT pgferry.finish_batch($1)', [batch]);
    },
  },
  { name: 'CALL maint()', run: (c) => c.query('CALL pgferry.maint()') },
  ...CAPTURE_ENTRY_POINTS,
  { name: 'unregister_consumer', run: (c) => one(c, `SELECT pgferry.unregister_consumer('q', 'c2')`) },
  { name: 'drop_queue', run: (c) => one(c, `SELECT pgferry.drop_queue('q2')`) },
  { name: 'drop_queue (force)', run: (c) => one(c, `SELECT pgferry.drop_queue('q', true)`) },
  { name: 'version', run: (c) => one(c, 'SELECT pgferry.version()') },
  { name: 'uninstall', run: (c) => uninstall(c) },
];

describe('search_path hijack', () => {
  const db = useTestDatabase({ install: false });
  let planted = 0;
  let skipped = '';

  beforeAll(async () => {
    admin = db.pool;
    await db.pool.query(`CREATE ROLE ${attacker} LOGIN NOSUPERUSER`);
    await db.pool.query(`CREATE SCHEMA evil AUTHORIZATION ${attacker}`);
    await db.pool.query(`GRANT USAGE ON SCHEMA evil TO PUBLIC`);
    const a = await connect(db.urlAs(attacker));
    try {
      await a.query(`CREATE TABLE evil.calls (what text)`);
      await a.query(`GRANT INSERT ON evil.calls TO PUBLIC`);
      const source = bundleSql();
      await a.query(PLANT.replace('$1::text[]', a.escapeLiteral(`{${calledNames(source).join(',')}}`) + '::text[]').replace(
        '$2::text[]',
        a.escapeLiteral(`{${operatorNames(source).map((o) => `"${o.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`) + '::text[]',
      ));
      planted = Number(await value<string>(a, `SELECT pg_catalog.current_setting('evil.planted')`));
      skipped = await value<string>(a, `SELECT pg_catalog.current_setting('evil.skipped')`);
    } finally {
      await a.end();
    }
  });

  afterAll(async () => {
    await db.pool.query(`DROP SCHEMA IF EXISTS evil CASCADE`);
    await db.pool.query(`DROP ROLE IF EXISTS ${attacker}`);
  });

  it('plants recording copies that do run when a name is not qualified (the control)', async () => {
    // Not a fixed count: the list follows pgferry's SQL. These are the names the issue
    // reproduced the hijack with.
    expect(planted).toBeGreaterThan(0);
    const names = (await rows<{ sig: string }>(db.pool, `
      SELECT p.oid::regprocedure::text AS sig FROM pg_proc p WHERE p.pronamespace = 'evil'::regnamespace
      UNION ALL SELECT o.oid::regoperator::text FROM pg_operator o WHERE o.oprnamespace = 'evil'::regnamespace`)).map((r) => r.sig);
    expect(names).toEqual(expect.arrayContaining(['evil.format(text,text[])', 'evil.now()', 'evil.nextval(regclass)', 'evil.=(integer,integer)', 'evil.count()']));
    console.info(`planted ${planted} shadowing objects; not plantable in PL/pgSQL: ${skipped || 'none'}`);
    const c = await connect(db.url);
    try {
      await c.query('SET search_path = evil, pg_catalog');
      await c.query(`SELECT format('%s', 'x'::text), now(), 1 = 1, (SELECT count(*) FROM (VALUES (1)) v)`);
      const calls = (await rows<{ what: string }>(db.pool, 'SELECT what FROM evil.calls ORDER BY what')).map((r) => r.what);
      expect(calls).toEqual(expect.arrayContaining(['format(text, VARIADIC text[])', 'now()', 'count()']));
      expect(calls.some((w) => w.startsWith('operator =('))).toBe(true);
    } finally {
      await c.end();
      await db.pool.query('TRUNCATE evil.calls');
    }
  });

  it('runs nothing planted through install, every entry point and uninstall, as a superuser whose search_path puts the schema first', async () => {
    const c = await connect(db.url);
    const warnings: string[] = [];
    let step = '';
    c.on('notice', (n) => {
      if (/planted/.test(n.message ?? '')) warnings.push(`${step}: ${n.message}`);
    });
    try {
      await c.query('SET search_path = evil, pg_catalog');
      expect(await one(c, 'SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user')).toBe(true);
      for (const s of ENTRY_POINTS) {
        step = s.name;
        try {
          await s.run(c);
        } catch (err) {
          throw new Error(`${s.name}: ${(err as Error).message}`, { cause: err });
        }
      }
    } finally {
      await c.end();
    }
    expect(warnings).toEqual([]);
    expect(await rows(db.pool, 'SELECT what FROM evil.calls')).toEqual([]);
  });
});

describe('pinned search_path', () => {
  const db = useTestDatabase();

  // Routines that cannot or do not yet pin search_path: pgferry.maint() COMMITs, which a
  // routine with a SET clause may not do, so it qualifies every name instead (maint.sql,
  // engineer B); capture's functions are being rewritten as SECURITY DEFINER with pinned
  // settings (the lead). Remove an entry when its file pins the path.
  // maint() COMMITs (a procedure with SET cannot); capture_add_table/capture_remove_table
  // resolve the user's table name with the caller's path, then call pinned functions.
  const NOT_PINNED_BY_DESIGN = /^(maint|capture_add_table|capture_remove_table)$/;

  it('is pinned on every pgferry routine (SECURITY DEFINER or not), so a direct call is as safe as a nested one', async () => {
    const unpinned = await rows<{ routine: string; prosecdef: boolean }>(db.pool, `
      SELECT p.proname AS routine, p.prosecdef
        FROM pg_proc p
       WHERE p.pronamespace = 'pgferry'::regnamespace
         AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
       ORDER BY 1`);
    expect(unpinned.filter((r) => r.prosecdef)).toEqual([]);
    expect(unpinned.map((r) => r.routine).filter((n) => !NOT_PINNED_BY_DESIGN.test(n))).toEqual([]);
  });

  it('leaves no pgferry routine executable by PUBLIC but version(), procedures included', async () => {
    const open = await rows<{ routine: string }>(db.pool, `
      SELECT p.oid::regprocedure::text AS routine
        FROM pg_proc p
       WHERE p.pronamespace = 'pgferry'::regnamespace
         AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
       ORDER BY 1`);
    expect(open.map((r) => r.routine)).toEqual(['pgferry.version()']);
  });
});
