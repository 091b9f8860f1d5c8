/**
 * The partition router (handler "partition") on real servers.
 *
 * add-table refuses bad arguments and unfit destinations with a message naming the argument
 * and what to do, and changes nothing on either side.
 *
 * Under a randomized workload (inserts, bulk inserts, updates of plain columns, updates that
 * move a row to another period or hash bucket, key changes, deletes, transactions rolled
 * back, three writers at once) with the worker (a child process) SIGKILLed again and again,
 * five layouts end identical to their provider table row for row, read through the parent
 * (declarative) or the base table (tables):
 * - declarative by day (dest created by add-table, PARTITION BY RANGE),
 * - declarative by month in Europe/Tallinn (dest and one partition made by the user),
 * - declarative by hash of the key (4 partitions),
 * - tables by month (one table per month inheriting from the base),
 * - tables by hash of a non-key column (a row moves between tables when it changes).
 * Each table has rows before it is added, over several periods: the initial copy lands them
 * in their partitions. Afterwards: every row is in the partition its value chooses (so a
 * moved row is in exactly one), partitions for periods only the stream brought exist (made
 * on demand), no row sits in a base table itself, no update or delete missed its row.
 *
 * Also: a date column (declarative by month) and a timestamp column (tables by hour); an
 * update whose row the subscriber lost is counted and not landed, the rest of its batch
 * moves; a table that has a partition's name but is not one stops the stream with an error
 * naming it (nothing of the batch lands, no partition is left behind) until it is made one.
 *
 * Several providers into one partitioned table (a merge column, as flow records from many
 * collectors): the sources' copies run at once without deadlocking (each creates the
 * partitions its rows need), each source's copy, resync and TRUNCATE touch only its own
 * rows, and a worker that needs a partition another transaction is creating at that moment
 * (another source's worker: every source reaches a new period at about the same time)
 * waits for it and uses it, with no failed batch.
 *
 * Replay with PGFERRY_PARTITION_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Ticker, capturedTable } from '@pgferry/queue';
import {
  HandlerArgsError,
  ReplicationSetupError,
  SubscriptionWorker,
  addTable,
  createLeafNode,
  createRootNode,
  getStatus,
  listTables,
  resyncTable,
  type AddTableOptions,
} from '@pgferry/replicator';
import { rng, startTwoServers, stopTwoServers, tableJson, waitFor, type TwoServers } from './helpers.js';
import { WorkerProcess } from './worker-process.js';

const SEED = Number(process.env.PGFERRY_PARTITION_SEED ?? Date.now() % 100_000);
const KILLS = 5;
const COLS = 'id, ts, collector, bytes, note';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


interface Layout {
  table: string;
  args: Record<string, string>;
  keyColumns?: string[];
  /** The dest is made by the test (else by add-table's create). */
  ddl?: string;
  /** The partition a row belongs in, as SQL over the row `t` (the test's own statement of the rule). */
  expected: string;
  /** The partition of a row only the stream brings (2024-07-15, a period no copied row has): made on demand. */
  streamOnly?: string;
}

const LAYOUTS: Layout[] = [
  {
    table: 'ev_day',
    args: { column: 'ts', period: 'day' },
    keyColumns: ['id', 'ts'],
    expected: `'ev_day_' || to_char(t.ts AT TIME ZONE 'UTC', 'YYYY_MM_DD')`,
    streamOnly: 'ev_day_2024_07_15',
  },
  {
    table: 'ev_month',
    args: { column: 'ts', period: 'month', timezone: 'Europe/Tallinn' },
    keyColumns: ['id', 'ts'],
    ddl: `CREATE TABLE ev_month (id bigint NOT NULL, ts timestamptz NOT NULL, collector int NOT NULL, bytes bigint, note text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
          CREATE TABLE ev_month_2024_02 PARTITION OF ev_month FOR VALUES FROM ('2024-02-01 00:00+02') TO ('2024-03-01 00:00+02');`,
    expected: `'ev_month_' || to_char(t.ts AT TIME ZONE 'Europe/Tallinn', 'YYYY_MM')`,
    streamOnly: 'ev_month_2024_07',
  },
  {
    table: 'ev_hash',
    args: { column: 'id', hash: '4' },
    // The server routes by its own hash: the partition's bound says which rows it takes.
    expected: `(SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'ev_hash'::regclass
                   AND satisfies_hash_partition('ev_hash'::regclass, 4, substring(pg_get_expr(c.relpartbound, c.oid) FROM 'remainder (\\d+)')::int, t.id))`,
  },
  {
    table: 'ev_tab',
    args: { column: 'ts', period: 'month', mode: 'tables' },
    expected: `'ev_tab_' || to_char(t.ts AT TIME ZONE 'UTC', 'YYYY_MM')`,
    streamOnly: 'ev_tab_2024_07',
  },
  {
    table: 'ev_thash',
    args: { column: 'collector', hash: '3', mode: 'tables' },
    expected: `'ev_thash_p' || mod(abs(hashtext(t.collector::text)::int8), 3)`,
  },
];

describe(`partition router (seed ${SEED})`, () => {
  let env: TwoServers;
  let worker: WorkerProcess | undefined;
  const add = (o: Partial<AddTableOptions> & { table: string }) => addTable(env.provider, env.subscriber, { subscription: 'leaf1', ...o });

  beforeAll(async () => {
    env = await startTwoServers('partition');
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
    // leaf2: tables served by an in-process worker, one test at a time.
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf2' });
  });

  afterAll(async () => {
    await worker?.close().catch(() => undefined);
    await stopTwoServers(env);
  });

  describe('add-table refuses bad arguments and unfit destinations, changing nothing', () => {
    const state = async () => ({
      captured: (await env.provider.query(`SELECT table_name FROM pgferry.capture_tables() ORDER BY 1`)).rows,
      triggers: (await env.provider.query(`SELECT tgrelid::regclass::text AS t, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`)).rows,
      subscribed: (await env.subscriber.query(`SELECT st_source, st_dest FROM pgferry.subscriber_table ORDER BY 1`)).rows,
      tables: (await env.subscriber.query(`SELECT oid::regclass::text AS t, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1`)).rows,
    });
    const refused = async (o: Partial<AddTableOptions> & { table: string }, type: typeof ReplicationSetupError, message: RegExp) => {
      const before = await state();
      const err = await add(o).then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(o)).toBeInstanceOf(type);
      expect((err as Error).message).toMatch(message);
      expect(await state()).toEqual(before);
      expect(await capturedTable(env.provider, 'repl', `public.${o.table}`)).toBeUndefined();
    };

    beforeAll(async () => {
      await env.provider.query(`
        CREATE TABLE bad (id bigint PRIMARY KEY, ts timestamptz NOT NULL, d date NOT NULL, n int NOT NULL);
        CREATE TABLE bad_long_name_of_a_table_that_leaves_no_room_for_a_suffix_xx (id bigint PRIMARY KEY, ts timestamptz NOT NULL)`);
      await env.subscriber.query(`
        CREATE TABLE bad_plain (id bigint, ts timestamptz NOT NULL, d date NOT NULL, n int NOT NULL, PRIMARY KEY (id, ts));
        CREATE TABLE bad_parted (id bigint, ts timestamptz NOT NULL, d date NOT NULL, n int NOT NULL, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
        CREATE TABLE bad_by_n (id bigint, ts timestamptz NOT NULL, d date NOT NULL, n int NOT NULL, PRIMARY KEY (id, n)) PARTITION BY HASH (n)`);
    });

    const H = { table: 'bad', handler: 'partition', create: true };
    it('refuses arguments that are missing, unknown or invalid', async () => {
      await refused({ ...H, handlerArgs: { period: 'day' } }, HandlerArgsError, /argument "column" is missing/);
      await refused({ ...H, handlerArgs: { column: 'ts' } }, HandlerArgsError, /argument "period" or "hash" is missing/);
      await refused({ ...H, handlerArgs: { column: 'ts', period: 'week', mode: 'tables' } }, HandlerArgsError, /argument "period" is "week".*period=hour\|day\|month\|year/);
      await refused({ ...H, handlerArgs: { column: 'ts', period: 'day', hash: '4' } }, HandlerArgsError, /"period" and "hash" are both given/);
      await refused({ ...H, handlerArgs: { column: 'id', hash: '0' } }, HandlerArgsError, /argument "hash" is "0".*integer from 1 to 1024/);
      await refused({ ...H, handlerArgs: { column: 'id', hash: '4x' } }, HandlerArgsError, /argument "hash" is "4x"/);
      await refused({ ...H, handlerArgs: { column: 'ts', period: 'day', mode: 'sideways' } }, HandlerArgsError, /argument "mode" is "sideways"/);
      await refused({ ...H, handlerArgs: { column: 'ts', period: 'day', partitions: '3' } }, HandlerArgsError, /unknown argument "partitions"/);
      await refused({ ...H, handlerArgs: { column: 'nope', period: 'day', mode: 'tables' } }, HandlerArgsError, /argument "column": "nope" is not a replicated column/);
      await refused({ ...H, columns: ['id', 'n'], handlerArgs: { column: 'ts', period: 'day', mode: 'tables' } }, HandlerArgsError, /"ts" is not a replicated column/);
      await refused({ ...H, handlerArgs: { column: 'id', hash: '4', timezone: 'UTC' } }, HandlerArgsError, /"timezone" is given with hash/);
      await refused({ ...H, handlerArgs: { column: 'ts', period: 'hour', mode: 'tables', timezone: 'Asia/Kolkata' } }, HandlerArgsError, /"timezone" is given with period=hour.*UTC hours/);
    });

    it('refuses a merge column with mode=tables (a key of another source in another table would not be seen)', async () => {
      await refused({ ...H, mergeColumn: 'site', handlerArgs: { column: 'ts', period: 'day', mode: 'tables' } }, HandlerArgsError, /mode=tables with a merge column.*use mode=declarative/);
    });

    it('refuses declarative partitioning by a column that is not a key column', async () => {
      await refused({ ...H, handlerArgs: { column: 'ts', period: 'day' } }, HandlerArgsError, /"ts", which is not a key column.*keyColumns id,ts.*or use mode=tables/);
    });

    it('refuses a destination the layout cannot use, and a bad time zone (in the registering transaction)', async () => {
      const K = { table: 'bad', handler: 'partition', keyColumns: ['id', 'ts'] };
      await refused({ ...K, dest: 'bad_plain', handlerArgs: { column: 'ts', period: 'day' } }, HandlerArgsError, /mode=declarative: public.bad_plain is not a partitioned table.*PARTITION BY RANGE \("ts"\)/);
      await refused({ ...K, dest: 'bad_parted', handlerArgs: { column: 'ts', period: 'day', mode: 'tables' } }, HandlerArgsError, /mode=tables: public.bad_parted is a partitioned table.*use mode=declarative/);
      await refused({ ...K, dest: 'bad_by_n', keyColumns: ['id', 'n'], handlerArgs: { column: 'n', period: 'day', mode: 'declarative' } }, HandlerArgsError, /column "n" of public.bad_by_n is pg_catalog.int4: period=day needs a timestamptz, timestamp or date column/);
      await refused({ ...K, dest: 'bad_parted', keyColumns: ['id', 'ts'], handlerArgs: { column: 'ts', hash: '4' } }, HandlerArgsError, /not partitioned BY HASH \("ts"\) alone/);
      await refused({ ...K, dest: 'bad_plain', handlerArgs: { column: 'd', period: 'hour', mode: 'tables' } }, HandlerArgsError, /column "d" of public.bad_plain is a date: it has no hours/);
      await refused({ ...K, dest: 'bad_plain', handlerArgs: { column: 'd', period: 'day', mode: 'tables', timezone: 'Europe/Tallinn' } }, HandlerArgsError, /"timezone" applies to a timestamptz column/);
      await refused({ ...K, dest: 'bad_parted', handlerArgs: { column: 'ts', period: 'day', timezone: 'Mars/Olympus' } }, HandlerArgsError, /argument "timezone" is "Mars\/Olympus"/);
      await refused(
        { table: 'bad_long_name_of_a_table_that_leaves_no_room_for_a_suffix_xx', handler: 'partition', create: true, handlerArgs: { column: 'ts', period: 'hour', mode: 'tables' } },
        HandlerArgsError,
        /would be longer than 63 bytes/,
      );
      // add-table's create with declarative mode makes the table partitioned; a failing
      // prepare (here: the time zone) takes the created table back with it.
      await refused({ ...H, dest: 'bad_created', keyColumns: ['id', 'ts'], handlerArgs: { column: 'ts', period: 'day', timezone: 'Nowhere/Land' } }, HandlerArgsError, /"timezone" is "Nowhere\/Land"/);
    });
  });

  it('routes a randomized workload into partitions made on demand, through worker SIGKILLs, for both layouts', { timeout: 240_000 }, async () => {
    const random = rng(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    // Copied rows: January to April 2024, and rows at month edges (UTC vs Tallinn).
    for (const l of LAYOUTS) {
      await env.provider.query(`CREATE TABLE ${l.table} (id bigint PRIMARY KEY, ts timestamptz NOT NULL, collector int NOT NULL, bytes bigint, note text)`);
      await env.provider.query(
        `INSERT INTO ${l.table}
         SELECT g, '2024-01-01 00:00+00'::timestamptz + (g * 7919 % 120) * interval '1 day' + (g * 104729 % 86400) * interval '1 second',
                g % 11, g * 100, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END
           FROM generate_series(1, 3000) g;
         INSERT INTO ${l.table}
         SELECT 10000 + m * 2 + k, date_trunc('month', '2024-01-01 00:00+00'::timestamptz + m * interval '1 month') + (CASE k WHEN 0 THEN -1 ELSE 1 END) * interval '90 minutes', 0, 0, 'edge'
           FROM generate_series(1, 3) m, generate_series(0, 1) k`,
      );
      if (l.ddl) await env.subscriber.query(l.ddl);
    }
    worker = new WorkerProcess({
      subscriptions: [{ subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000, parallelCopies: 2 }],
      tickIntervalMs: 50,
    });
    for (const l of LAYOUTS) {
      await add({ table: l.table, handler: 'partition', handlerArgs: l.args, keyColumns: l.keyColumns, create: !l.ddl });
    }
    await worker.start();

    // The workload. Times from December 2023 to August 2024: the stream brings periods the copy had not.
    let nextId = 100_000;
    const stats = { commits: 0, rollbacks: 0, errors: 0, moves: 0 };
    const randomTs = () => new Date(Date.UTC(2023, 11, 1) + Math.floor(random() * 270 * 86400) * 1000).toISOString();
    type Op = (c: pg.PoolClient, t: string) => Promise<number>;
    /** Rows whose partition column an update changed (ts partitions most tables; ev_hash and ev_thash not). */
    const byTime = (t: string) => t !== 'ev_hash' && t !== 'ev_thash';
    const move: Op = async (c, t) => {
      const r = await c.query(`UPDATE ${t} SET ts = ts + $2 * interval '1 day' WHERE id = $1`, [int(1, 3000), pick([-40, -3, 1, 2, 35, 95])]);
      return byTime(t) ? r.rowCount ?? 0 : 0;
    };
    const ops: Op[] = [
      (c, t) => c.query(`INSERT INTO ${t} VALUES ($1, $2, $3, 1, 'new')`, [++nextId, randomTs(), int(0, 20)]).then(() => 0),
      (c, t) => {
        const from = nextId + 1;
        nextId += 50;
        return c.query(`INSERT INTO ${t} SELECT g, $3::timestamptz + (g % 50) * interval '1 hour', g % 13, g, 'bulk' FROM generate_series($1::bigint, $2::bigint) g`, [from, nextId, randomTs()]).then(() => 0);
      },
      (c, t) => c.query(`UPDATE ${t} SET bytes = bytes + 1, note = 'upd' WHERE id = $1`, [int(1, 3000)]).then(() => 0),
      move,
      (c, t) => c.query(`UPDATE ${t} SET ts = ts + interval '1 month' WHERE id BETWEEN $1 AND $1 + 5`, [int(1, 3000)]).then((r) => (byTime(t) ? r.rowCount ?? 0 : 0)),
      (c, t) => c.query(`UPDATE ${t} SET collector = collector + 1 WHERE id = $1`, [int(1, 3000)]).then((r) => (t === 'ev_thash' ? r.rowCount ?? 0 : 0)),
      (c, t) => c.query(`UPDATE ${t} SET id = $1 WHERE id = $2`, [++nextId, int(1, 3000)]).then(() => 0),
      (c, t) => c.query(`DELETE FROM ${t} WHERE id = $1`, [int(1, 3000)]).then(() => 0),
      (c, t) => c.query(`DELETE FROM ${t} WHERE id BETWEEN $1 AND $1 + 3`, [int(1, 3000)]).then(() => 0),
    ];
    let stopping = false;
    const writer = async () => {
      while (!stopping) {
        const c = await env.provider.connect();
        let moves = 0;
        try {
          await c.query('BEGIN');
          for (let i = int(1, 5); i > 0; i--) {
            const op = pick(ops);
            moves += await op(c, pick(LAYOUTS).table);
          }
          if (random() < 0.2) {
            await c.query('ROLLBACK');
            stats.rollbacks++;
          } else {
            await c.query('COMMIT');
            stats.commits++;
            stats.moves += moves;
          }
        } catch {
          // Two writers on the same rows may deadlock: that transaction is gone, the run goes on.
          stats.errors++;
          await c.query('ROLLBACK').catch(() => undefined);
        } finally {
          c.release();
        }
        await sleep(int(10, 50));
      }
    };
    const started = Date.now();
    const writers = [writer(), writer(), writer()];
    while (worker.kills < KILLS) {
      await sleep(int(500, 2000));
      await worker.kill();
      await worker.start();
    }
    // Rows of a period no copied row had, once every copy is in: their partitions are the stream's to make.
    await waitFor('the copies to be done', async () => (await listTables(env.subscriber, 'leaf1')).every((t) => t.state !== 'in-copy'), 60_000);
    for (const l of LAYOUTS) await env.provider.query(`INSERT INTO ${l.table} VALUES (99999, '2024-07-15 12:00+00', 1, 1, 'stream')`);
    await sleep(1000);
    stopping = true;
    await Promise.all(writers);

    const identical = async () => {
      const tables = await listTables(env.subscriber, 'leaf1');
      if (tables.length !== LAYOUTS.length || tables.some((t) => t.state !== 'ok')) return false;
      for (const l of LAYOUTS) {
        if ((await tableJson(env.provider, l.table, 'id', COLS)) !== (await tableJson(env.subscriber, l.table, 'id', COLS))) return false;
      }
      return true;
    };
    const workloadSeconds = (Date.now() - started) / 1000;
    try {
      await waitFor('every partitioned table to equal its provider table', identical, 90_000, 250);
    } catch (err) {
      console.error(JSON.stringify(await getStatus(env.subscriber, 'leaf1', env.provider).catch(String), null, 2), '\n--- worker log ---\n', worker.log.slice(-5000));
      throw err;
    }

    for (const l of LAYOUTS) {
      const sub = env.subscriber;
      // Every row in the partition its value chooses: a moved row left its old partition.
      const misplaced = await sub.query(`SELECT t.id, t.ts, t.tableoid::regclass::text AS part, ${l.expected} AS expected FROM ${l.table} t WHERE t.tableoid::regclass::text IS DISTINCT FROM ${l.expected} LIMIT 5`);
      expect(misplaced.rows, `${l.table}: rows outside their partition`).toEqual([]);
      // And once: a key in two partitions would show twice through the parent.
      const twice = await sub.query(`SELECT id FROM ${l.table} GROUP BY id HAVING count(*) > 1`);
      expect(twice.rows, `${l.table}: keys in two partitions`).toEqual([]);
      const only = await sub.query(`SELECT count(*)::int AS n FROM ONLY ${l.table}`);
      expect(only.rows[0].n, `${l.table}: rows in the parent itself`).toBe(0);
      const names = (await sub.query<{ name: string }>(`SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = $1::regclass ORDER BY 1`, [l.table])).rows.map((r) => r.name);
      // Each period or bucket holding rows on the provider has its partition, holding them.
      if (l.table !== 'ev_hash') {
        const counts = (db: pg.Pool, part: string) =>
          db.query(`SELECT ${part} AS name, count(*)::int AS n FROM ${l.table} t GROUP BY 1 ORDER BY 1`).then((r) => r.rows);
        expect(await counts(sub, 't.tableoid::regclass::text'), `${l.table}: rows per partition`).toEqual(await counts(env.provider, l.expected));
      }
      if (l.streamOnly) expect(names, `${l.table}: a partition only the stream needed`).toContain(l.streamOnly);
      expect(names.length, `${l.table}: partitions`).toBeGreaterThan(1);
    }
    // The partition the user made is used, not duplicated.
    expect((await env.subscriber.query(`SELECT count(*)::int AS n FROM ONLY ev_month_2024_02`)).rows[0].n).toBeGreaterThan(0);
    // tables mode: partitions are tables like the base (its key) inheriting from it.
    const pk = await env.subscriber.query(`SELECT count(*)::int AS n FROM pg_index WHERE indrelid = 'ev_tab_2024_07'::regclass AND indisprimary`);
    expect(pk.rows[0].n).toBe(1);

    for (const t of await listTables(env.subscriber, 'leaf1')) {
      expect([t.source, t.handler, t.missingUpdates, t.missingDeletes]).toEqual([t.source, 'partition', 0, 0]);
    }
    expect(worker.kills).toBe(KILLS);
    expect(stats.commits).toBeGreaterThan(20);
    expect(stats.rollbacks).toBeGreaterThan(0);
    expect(stats.moves, 'committed updates that moved a row to another partition').toBeGreaterThan(10);
    console.log(
      `seed ${SEED}: ${workloadSeconds.toFixed(0)} s of workload, ${worker.kills} SIGKILLs; ${stats.commits} commits (${stats.moves} partition moves), ` +
        `${stats.rollbacks} rollbacks, ${stats.errors} failed transactions; converged ${((Date.now() - started) / 1000 - workloadSeconds).toFixed(0)} s later`,
    );
    console.log(worker.log.split('\n').filter((l) => / (warn|error) /.test(l)).slice(-20).join('\n'));
  });

  it('stops at a table that has a partition\'s name but is not one, naming it, and goes on once it is one', { timeout: 60_000 }, async () => {
    await env.provider.query(`CREATE TABLE late (id bigint PRIMARY KEY, ts timestamptz NOT NULL)`);
    await env.subscriber.query(`CREATE TABLE late_2024_05 (id bigint NOT NULL, ts timestamptz NOT NULL)`);
    await addTable(env.provider, env.subscriber, { subscription: 'leaf2', table: 'late', create: true, handler: 'partition', handlerArgs: { column: 'ts', period: 'month', mode: 'tables' } });
    const ticker = new Ticker({ connectionString: env.providerUrl }, { tickIntervalMs: 20 }).start();
    const w = new SubscriptionWorker({ subscription: 'leaf2', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 300 }).start();
    try {
      await waitFor('late to be copied', async () => (await listTables(env.subscriber, 'leaf2'))[0]?.state === 'ok');
      await env.provider.query(`INSERT INTO late VALUES (1, '2024-05-10 12:00+00'), (2, '2024-06-10 12:00+00')`);
      await waitFor('the error naming the table', async () =>
        /"public"\."late_2024_05" exists but is not a partition inheriting from "public"\."late"/.test((await getStatus(env.subscriber, 'leaf2')).lastError ?? ''),
      );
      // Nothing of the failed batch landed (nor the partition it would have made for June).
      expect((await env.subscriber.query(`SELECT count(*)::int AS n FROM late`)).rows[0].n).toBe(0);
      expect((await env.subscriber.query(`SELECT to_regclass('late_2024_06') AS r`)).rows[0].r).toBeNull();
      await env.subscriber.query(`ALTER TABLE late_2024_05 INHERIT late`);
      await waitFor('the rows through the base table', async () => (await tableJson(env.subscriber, 'late')) === (await tableJson(env.provider, 'late')));
      expect((await env.subscriber.query(`SELECT tableoid::regclass::text AS t FROM late ORDER BY id`)).rows.map((r) => r.t)).toEqual(['late_2024_05', 'late_2024_06']);
    } finally {
      await w.stop();
      await ticker.stop();
    }
  });

  it('partitions by a date (declarative, by month) and a timestamp without time zone (tables, by hour)', { timeout: 60_000 }, async () => {
    await env.provider.query(`
      CREATE TABLE daily (id bigint PRIMARY KEY, day date NOT NULL, v int);
      INSERT INTO daily SELECT g, date '2024-01-01' + g * 3, g FROM generate_series(1, 100) g;
      CREATE TABLE hourly (id bigint PRIMARY KEY, at timestamp NOT NULL, v int);
      INSERT INTO hourly SELECT g, timestamp '2024-03-31 00:00' + g * interval '17 minutes', g FROM generate_series(1, 100) g`);
    await addTable(env.provider, env.subscriber, { subscription: 'leaf2', table: 'daily', create: true, keyColumns: ['id', 'day'], handler: 'partition', handlerArgs: { column: 'day', period: 'month' } });
    await addTable(env.provider, env.subscriber, { subscription: 'leaf2', table: 'hourly', create: true, handler: 'partition', handlerArgs: { column: 'at', period: 'hour', mode: 'tables' } });
    const ticker = new Ticker({ connectionString: env.providerUrl }, { tickIntervalMs: 20 }).start();
    const w = new SubscriptionWorker({ subscription: 'leaf2', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 300 }).start();
    try {
      await waitFor('the copies', async () => (await listTables(env.subscriber, 'leaf2')).every((t) => t.state === 'ok'), 20_000);
      await env.provider.query(`
        UPDATE daily SET day = day + 45 WHERE id % 4 = 0;
        DELETE FROM daily WHERE id % 7 = 0;
        INSERT INTO daily VALUES (1000, '2025-02-28', 0);
        UPDATE hourly SET at = at + interval '5 hours', v = -v WHERE id % 3 = 0;
        DELETE FROM hourly WHERE id % 5 = 0;
        INSERT INTO hourly VALUES (1000, '2024-12-31 23:59:59.999999', 0)`);
      for (const [t, key] of [['daily', 'id'], ['hourly', 'id']]) {
        await waitFor(`${t} to match`, async () => (await tableJson(env.subscriber, t!, key)) === (await tableJson(env.provider, t!, key)), 20_000);
      }
      const misplaced = await env.subscriber.query(`
        SELECT tableoid::regclass::text AS t, id FROM daily WHERE tableoid::regclass::text <> 'daily_' || to_char(day, 'YYYY_MM')
        UNION ALL
        SELECT tableoid::regclass::text, id FROM hourly WHERE tableoid::regclass::text <> 'hourly_' || to_char(at, 'YYYY_MM_DD_HH24')`);
      expect(misplaced.rows).toEqual([]);
      const parts = await env.subscriber.query(`SELECT inhrelid::regclass::text AS t FROM pg_inherits WHERE inhrelid::regclass::text IN ('daily_2025_02', 'hourly_2024_12_31_23') ORDER BY 1`);
      expect(parts.rows.map((r) => r.t)).toEqual(['daily_2025_02', 'hourly_2024_12_31_23']);

      // An update whose row the subscriber lost is counted, as by the row handler, and the
      // other updates of its batch land (moved to their new hour).
      await env.subscriber.query(`DELETE FROM hourly WHERE id = 1`);
      await env.provider.query(`UPDATE hourly SET at = at + interval '3 hours', v = 1000 WHERE id IN (1, 2, 4)`);
      await waitFor('the updates', async () => (await env.subscriber.query(`SELECT count(*)::int AS n FROM hourly WHERE v = 1000`)).rows[0].n === 2, 20_000);
      const hourly = (await listTables(env.subscriber, 'leaf2')).find((t) => t.source === 'public.hourly')!;
      expect([hourly.missingUpdates, hourly.missingDeletes]).toEqual([1, 0]);
      const rows = await env.subscriber.query(`SELECT id, tableoid::regclass::text = 'hourly_' || to_char(at, 'YYYY_MM_DD_HH24') AS placed FROM hourly WHERE id IN (1, 2, 4) ORDER BY id`);
      expect(rows.rows).toEqual([{ id: '2', placed: true }, { id: '4', placed: true }]);
    } catch (err) {
      console.error(JSON.stringify(await getStatus(env.subscriber, 'leaf2').catch(String), null, 2));
      throw err;
    } finally {
      await w.stop();
      await ticker.stop();
    }
  });

  it('merges several providers into one partitioned table: each source copies, resyncs and truncates only its own rows', { timeout: 120_000 }, async () => {
    const url2 = await env.providerServer.createDatabase('prov2');
    const prov2 = new pg.Pool({ connectionString: url2, max: 4, application_name: 'pgferry-test' }).on('error', () => undefined);
    const sites = [
      { name: 'site1', db: env.provider, url: env.providerUrl, no: 1 },
      { name: 'site2', db: prov2, url: url2, no: 2 },
    ];
    const tickers: Ticker[] = [];
    const workers: SubscriptionWorker[] = [];
    try {
      await createRootNode(prov2, { node: 'root2', queue: 'repl' });
      for (const s of sites) {
        // Keys unique across the sources (id % 2): rows over five days of June, copied.
        await s.db.query(`CREATE TABLE flows (id bigint PRIMARY KEY, ts timestamptz NOT NULL, bytes bigint NOT NULL)`);
        await s.db.query(`INSERT INTO flows SELECT g * 2 + $1, '2024-06-01 00:00+00'::timestamptz + g * interval '10 seconds', g FROM generate_series(1, 40000) g`, [s.no - 1]);
        await createLeafNode(s.db, env.subscriber, { node: s.name });
        await addTable(s.db, env.subscriber, {
          subscription: s.name, table: 'flows', create: s.no === 1, keyColumns: ['id', 'ts'], mergeColumn: 'site',
          handler: 'partition', handlerArgs: { column: 'ts', period: 'day' },
        });
      }
      // Both copies at once: each makes the partitions its rows need (a lock its rival's copy
      // conflicts with), so they run one after the other instead of each waiting for the other.
      for (const s of sites) {
        tickers.push(new Ticker({ connectionString: s.url }, { tickIntervalMs: 20 }).start());
        workers.push(new SubscriptionWorker({ subscription: s.name, provider: s.url, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 300 }).start());
      }
      const COLS = 'id, ts, bytes';
      const same = async () => {
        for (const s of sites) {
          if ((await listTables(env.subscriber, s.name)).some((t) => t.state !== 'ok')) return false;
          if ((await tableJson(s.db, 'flows', 'id', COLS)) !== (await tableJson(env.subscriber, `flows WHERE site = '${s.name}'`, 'id', COLS))) return false;
        }
        return true;
      };
      await waitFor('both copies', same, 30_000);

      for (const s of sites) {
        await s.db.query(`
          INSERT INTO flows SELECT g * 2 + ${s.no - 1}, '2024-06-10 00:00+00'::timestamptz + (g - 100000) * interval '13 minutes', g FROM generate_series(100000, 100200) g;
          UPDATE flows SET bytes = bytes + 1 WHERE id % 7 = 0;
          UPDATE flows SET ts = ts + interval '2 days' WHERE id % 5 = 0;
          DELETE FROM flows WHERE id % 11 = 0`);
        await s.db.query(`BEGIN; INSERT INTO flows VALUES (${5000 + s.no}, '2024-06-30 12:00+00', 1); ROLLBACK`);
      }
      await waitFor('the streams', same, 30_000);
      // A TRUNCATE on one provider empties its rows only; a resync of the other copies its rows only.
      await prov2.query(`TRUNCATE flows; INSERT INTO flows VALUES (7000, '2024-06-20 12:00+00', 7)`);
      await resyncTable(env.subscriber, { subscription: 'site1', table: 'flows' });
      await waitFor('the TRUNCATE and the resync', same, 30_000);

      const sub = env.subscriber;
      const misplaced = await sub.query(`SELECT id FROM flows t WHERE t.tableoid::regclass::text <> 'flows_' || to_char(t.ts AT TIME ZONE 'UTC', 'YYYY_MM_DD')`);
      expect(misplaced.rows).toEqual([]);
      const perSite = await sub.query(`SELECT site, count(*)::int AS n FROM flows GROUP BY site ORDER BY site`);
      expect(perSite.rows).toEqual([{ site: 'site1', n: Number((await env.provider.query(`SELECT count(*) FROM flows`)).rows[0].count) }, { site: 'site2', n: 1 }]);
      expect((await sub.query(`SELECT to_regclass('flows_2024_06_30') AS r`)).rows[0].r, 'a partition for rolled-back rows only').toBeNull();
      for (const w of workers) expect(w.stats.errors, `${w.stats.subscription}: errors`).toBe(0);
    } finally {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await Promise.allSettled(tickers.map((t) => t.stop()));
      await prov2.end();
    }
  });

  it('waits for a partition another transaction is creating, and lands in it without a failed batch', { timeout: 60_000 }, async () => {
    await env.provider.query(`CREATE TABLE raced (id bigint PRIMARY KEY, ts timestamptz NOT NULL)`);
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf3' });
    await addTable(env.provider, env.subscriber, { subscription: 'leaf3', table: 'raced', create: true, keyColumns: ['id', 'ts'], handler: 'partition', handlerArgs: { column: 'ts', period: 'day' } });
    const ticker = new Ticker({ connectionString: env.providerUrl }, { tickIntervalMs: 20 }).start();
    const w = new SubscriptionWorker({ subscription: 'leaf3', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 300 }).start();
    const other = await env.subscriber.connect();
    try {
      await waitFor('raced to be copied', async () => (await listTables(env.subscriber, 'leaf3'))[0]?.state === 'ok');
      // Another source's worker creating the day's partition, its batch not committed yet.
      await other.query(`BEGIN; CREATE TABLE raced_2024_07_15 PARTITION OF raced FOR VALUES FROM ('2024-07-15 00:00+00') TO ('2024-07-16 00:00+00')`);
      await env.provider.query(`INSERT INTO raced VALUES (1, '2024-07-15 12:00+00'), (2, '2024-07-16 12:00+00')`);
      await waitFor('the worker to wait for it', async () =>
        (await env.subscriber.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n > 0,
      );
      await other.query('COMMIT');
      await waitFor('the rows', async () => (await tableJson(env.subscriber, 'raced')) === (await tableJson(env.provider, 'raced')), 20_000);
      expect((await env.subscriber.query(`SELECT id, tableoid::regclass::text AS t FROM raced ORDER BY id`)).rows).toEqual([
        { id: '1', t: 'raced_2024_07_15' },
        { id: '2', t: 'raced_2024_07_16' },
      ]);
      expect(w.stats.lastError).toBeNull();
      expect(w.stats.errors).toBe(0);
    } finally {
      other.release();
      await w.stop();
      await ticker.stop();
    }
  });
});
