/**
 * DDL on captured tables followed by event triggers (capture_ddl_follow.sql): every ALTER
 * TABLE that changes a captured table's columns or name is taken into capture in its own
 * transaction and put into the queue as a DDL event at its point between the changes; what
 * a subscriber could not repeat exactly is refused with nothing left.
 */
import { describe, expect, it } from 'vitest';
import { install } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { drain, expectSqlError, rows, tick, value } from './helpers.js';

interface DdlOp {
  op: string;
  [k: string]: unknown;
}
interface Seen {
  type: string;
  table: string | null;
  data: Record<string, unknown> | null;
}

describe('capture follows DDL (event triggers)', () => {
  const db = useTestDatabase();

  async function captured(queue: string): Promise<Seen[]> {
    await tick(db.pool, queue);
    return (await drain(db.pool, queue, 'c')).flatMap((d) =>
      d.events.map((e) => ({ type: e.ev_type!, table: e.ev_extra1, data: e.ev_data === null ? null : JSON.parse(e.ev_data) })),
    );
  }
  async function captureTable(queue: string, table: string, columns: string, ignore: string[] | null = null): Promise<void> {
    await db.pool.query('SELECT pgferry.create_queue($1)', [queue]);
    await db.pool.query('SELECT pgferry.register_consumer($1, $2)', [queue, 'c']);
    await db.pool.query(`CREATE TABLE ${table} (${columns})`);
    await db.pool.query('SELECT pgferry.capture_add_table($1, $2, NULL, $3)', [queue, table, ignore]);
  }
  const ops = (events: Seen[]) => events.filter((e) => e.type === 'DDL').map((e) => e.data!.ops as DdlOp[]);
  const guards = () => value<number>(db.pool, `SELECT count(*)::int FROM pg_class WHERE relname ~ '^capture_\\d+_guard$'`);

  it('is on after an install by a role that may create event triggers, without guard views', async () => {
    expect(await value(db.pool, 'SELECT pgferry._capture_ddl_followed()')).toBe(true);
    await captureTable('on', 'on_t', 'id int PRIMARY KEY, a text');
    expect(await guards()).toBe(0);
  });

  it('follows added, renamed, retyped and dropped columns in stream order, with exact values for the rows already there', async () => {
    await captureTable('cols', 'cols_t', 'id int PRIMARY KEY, a text, b int, gone text');
    await db.pool.query(`INSERT INTO cols_t SELECT g, 'a' || g, g, 'x' FROM generate_series(1, 3) g`);
    await captured('cols');
    // A writer's own settings do not change the value sent for the rows already there.
    const c = await db.connect();
    try {
      await c.query(`SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Kolkata'`);
      await c.query('BEGIN');
      await c.query(`INSERT INTO cols_t VALUES (4, 'before', 4, 'y')`);
      await c.query(`ALTER TABLE cols_t ADD COLUMN at timestamptz NOT NULL DEFAULT '2020-01-02 03:04:05+00', ADD COLUMN note text`);
      await c.query(`UPDATE cols_t SET note = 'n' || id WHERE id <= 2`);
      await c.query(`ALTER TABLE cols_t RENAME COLUMN a TO label`);
      await c.query(`ALTER TABLE cols_t ALTER COLUMN b TYPE bigint, DROP COLUMN gone`);
      await c.query(`INSERT INTO cols_t (id, label, b, note) VALUES (5, 'after', 5, 'last')`);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    const events = await captured('cols');
    expect(events.map((e) => e.type)).toEqual(['I', 'DDL', 'U', 'U', 'DDL', 'DDL', 'I']);
    expect(ops(events)).toEqual([
      [
        { op: 'add', column: 'at', type: 'timestamp with time zone', collation: null, notNull: true, default: `'2020-01-02 03:04:05+00'::timestamp with time zone`, value: '2020-01-02 03:04:05+00' },
        { op: 'add', column: 'note', type: 'text', collation: null, notNull: false, default: null, value: null },
      ],
      [{ op: 'rename', from: 'a', to: 'label' }],
      [
        { op: 'drop', column: 'gone' },
        { op: 'type', column: 'b', type: 'bigint', collation: null },
      ],
    ]);
    const first = events[1]!.data!;
    expect([first.table, first.previous, first.columnsBefore, first.columnsAfter, first.keys]).toEqual([
      'public.cols_t', 'public.cols_t', ['id', 'a', 'b', 'gone'], ['id', 'a', 'b', 'gone', 'at', 'note'], ['id'],
    ]);
    // The images follow: new columns, new names, no dropped column.
    expect(events[2]!.data).toMatchObject({ id: '1', a: 'a1', at: '2020-01-02 03:04:05+00', note: 'n1' });
    expect(events[6]!.data).toEqual({ id: '5', label: 'after', b: '5', at: '2020-01-02 03:04:05+00', note: 'last' });
    expect(await rows(db.pool, `SELECT ct_columns, ct_types FROM pgferry.capture_table WHERE ct_table_name = 'public.cols_t'`)).toEqual([
      { ct_columns: ['id', 'label', 'b', 'at', 'note'], ct_types: ['integer', 'text', 'bigint', 'timestamp with time zone', 'text'] },
    ]);
  });

  it('follows a table renamed or moved to another schema, and keys renamed', async () => {
    await captureTable('names', 'named', 'k int PRIMARY KEY, v text');
    await db.pool.query(`CREATE SCHEMA IF NOT EXISTS other`);
    await db.pool.query(`ALTER TABLE named RENAME TO "Renamed"`);
    await db.pool.query(`ALTER TABLE "Renamed" SET SCHEMA other`);
    await db.pool.query(`ALTER TABLE other."Renamed" RENAME COLUMN k TO id`);
    await db.pool.query(`INSERT INTO other."Renamed" VALUES (1, 'v')`);
    const events = await captured('names');
    expect(events.map((e) => [e.type, e.table, e.data && 'previous' in e.data ? [e.data.previous, e.data.table] : null])).toEqual([
      ['DDL', 'public.named', ['public.named', 'public."Renamed"']],
      ['DDL', 'public."Renamed"', ['public."Renamed"', 'other."Renamed"']],
      ['DDL', 'other."Renamed"', ['other."Renamed"', 'other."Renamed"']],
      ['I', 'other."Renamed"', null],
    ]);
    expect(events[2]!.data!.keys).toEqual(['id']);
    expect(await value(db.pool, `SELECT ct_key_columns FROM pgferry.capture_table WHERE ct_table_name = 'other."Renamed"'`)).toEqual(['id']);
  });

  it('refuses what a subscriber could not repeat exactly, leaving nothing of it', async () => {
    await captureTable('refuse', 'refuse_t', 'id int PRIMARY KEY, v text');
    await db.pool.query(`INSERT INTO refuse_t VALUES (1, 'a'), (2, 'b')`);
    const before = await value(db.pool, `SELECT ct_columns FROM pgferry.capture_table WHERE ct_table_name = 'public.refuse_t'`);
    const refused = async (ddl: string, pattern: RegExp) => {
      await expectSqlError(db.pool.query(ddl), 'PF006', pattern);
      expect(await value(db.pool, `SELECT ct_columns FROM pgferry.capture_table WHERE ct_table_name = 'public.refuse_t'`)).toEqual(before);
      expect(await value(db.pool, `SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'refuse_t'::regclass AND attnum > 0 AND NOT attisdropped`)).toBe('id,v');
    };
    await refused(`ALTER TABLE refuse_t ADD COLUMN r float8 DEFAULT random()`, /column r added to captured table public\.refuse_t gave its existing rows different values/);
    await refused(`ALTER TABLE refuse_t ADD COLUMN n int GENERATED ALWAYS AS IDENTITY`, /column n added .* different values/);
    await refused(`ALTER TABLE refuse_t ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED`, /column g added .* different values/);
    await refused(`ALTER TABLE refuse_t DROP COLUMN id CASCADE`, /drops key column\(s\) id of captured table public\.refuse_t/);
    await refused(`ALTER TABLE refuse_t ALTER COLUMN v TYPE int USING length(v)`, /was changed with USING, which subscribers cannot repeat/);
    await expectSqlError(db.pool.query(`DROP TABLE refuse_t`), 'PF006', /captured table\(s\) public\.refuse_t \(queue "refuse"\) cannot be dropped/);
    // A volatile default whose rows happen to agree (a rewrite with now(): one value) is fine.
    await db.pool.query(`ALTER TABLE refuse_t ADD COLUMN same timestamptz DEFAULT now(), ALTER COLUMN v TYPE varchar(10)`);
    const [ddl] = ops((await captured('refuse')).filter((e) => e.type === 'DDL'));
    expect(ddl!.map((o) => o.op)).toEqual(['type', 'add']);
    expect(ddl![1]!.value).toBe(await value(db.pool, `SELECT min(same)::text FROM refuse_t`));
    // Removed from capture, the table may go.
    await db.pool.query(`SELECT pgferry.capture_remove_table('refuse', 'refuse_t')`);
    await db.pool.query(`DROP TABLE refuse_t`);
  });

  it('keeps ignored columns out of the events, follows the replicator without events and leaves an execute to capture_ddl_end', async () => {
    await captureTable('quiet', 'quiet_t', 'id int PRIMARY KEY, secret text, v text', ['secret']);
    await db.pool.query(`ALTER TABLE quiet_t RENAME COLUMN secret TO hidden`);
    await db.pool.query(`ALTER TABLE quiet_t DROP COLUMN hidden`);
    const c = await db.connect();
    try {
      await c.query(`SET pgferry.replica = on`);
      await c.query(`ALTER TABLE quiet_t ADD COLUMN from_replica int`);
      await c.query('BEGIN');
      await c.query(`SELECT pgferry.capture_ddl_begin('quiet')`);
      await c.query(`ALTER TABLE quiet_t ADD COLUMN from_execute int`);
      await c.query(`SELECT * FROM pgferry.capture_ddl_end('quiet')`);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    await db.pool.query(`INSERT INTO quiet_t VALUES (1, 'v', 2, 3)`);
    const events = await captured('quiet');
    expect(ops(events)).toEqual([[], []]); // the ignored column's rename and drop: followed, nothing sent
    expect(await value(db.pool, 'SELECT count(*)::int FROM pgferry.capture_ddl_open')).toBe(0);
    expect(events.at(-1)!.data).toEqual({ id: '1', v: 'v', from_replica: '2', from_execute: '3' });
    expect(await rows(db.pool, `SELECT ct_ignore_columns, ct_columns FROM pgferry.capture_table WHERE ct_table_name = 'public.quiet_t'`)).toEqual([
      { ct_ignore_columns: [], ct_columns: ['id', 'v', 'from_replica', 'from_execute'] },
    ]);
  });

  it('can be turned off (guard views come back, DDL goes through execute) and on again, and survives reinstalls and an uninstall', async () => {
    await captureTable('toggle', 'toggle_t', 'id int PRIMARY KEY, a text');
    expect(await value(db.pool, 'SELECT pgferry.capture_ddl_follow(false)')).toBe(false);
    await install(db.pool); // the choice is kept
    expect(await value(db.pool, 'SELECT pgferry._capture_ddl_followed()')).toBe(false);
    expect(await guards()).toBeGreaterThan(0);
    await expectSqlError(db.pool.query('ALTER TABLE toggle_t DROP COLUMN a'), '2BP01');
    await db.pool.query(`ALTER TABLE toggle_t ADD COLUMN b int`);
    expect(ops(await captured('toggle'))).toEqual([]);
    // That change went unseen: following is not turned on over it (its values were not captured).
    await expectSqlError(db.pool.query('SELECT pgferry.capture_ddl_follow(true)'), 'PF006', /public\.toggle_t changed while DDL was not followed/);
    // (An execute takes it into capture: capture_ddl_begin and _end around the DDL.)
    await db.pool.query(`DO $$ BEGIN PERFORM pgferry.capture_ddl_begin('toggle'); PERFORM pgferry.capture_ddl_end('toggle'); END $$`);
    // A role that may not create event triggers is told what to do instead.
    // (Roles are cluster-wide: a name of its own, dropped after.)
    const role = `ddl_follow_admin_${process.pid}`;
    await db.pool.query(`CREATE ROLE ${role}; GRANT pgferry_admin TO ${role}`);
    const admin = await db.connect();
    try {
      await admin.query(`SET ROLE ${role}`);
      await expectSqlError(admin.query('SELECT pgferry.capture_ddl_follow(true)'), '42501', /role ddl_follow_admin_\d+ may not create event triggers/);
    } finally {
      await admin.end();
      await db.pool.query(`DROP ROLE ${role}`);
    }
    expect(await value(db.pool, 'SELECT pgferry.capture_ddl_follow(true)')).toBe(true);
    expect(await guards()).toBe(0);
    await db.pool.query('ALTER TABLE toggle_t DROP COLUMN a');
    expect(ops(await captured('toggle'))).toEqual([[{ op: 'drop', column: 'a' }]]);
  });
});

describe('uninstall with DDL followed', () => {
  const db = useTestDatabase();
  it('drops pgferry and its event triggers; the tables it captured are free', async () => {
    await db.pool.query(`SELECT pgferry.create_queue('u')`);
    await db.pool.query(`CREATE TABLE kept (id int PRIMARY KEY)`);
    await db.pool.query(`SELECT pgferry.capture_add_table('u', 'kept')`);
    await db.pool.query('DROP SCHEMA pgferry CASCADE');
    expect(await value(db.pool, `SELECT count(*)::int FROM pg_event_trigger WHERE evtname LIKE 'pgferry%'`)).toBe(0);
    await db.pool.query('ALTER TABLE kept ADD COLUMN v text');
    await db.pool.query('DROP TABLE kept');
  });
});
