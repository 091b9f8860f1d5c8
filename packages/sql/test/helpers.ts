/**
 * Small helpers shared by the SQL layer's tests: typed queries, events as the tests see
 * them, consumers that drain a queue through each of the batch-reading entry points, and
 * error assertions by SQLSTATE.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import pg from 'pg';
import { install } from '@pgferry/sql';
import { PgServer, TEST_SETTINGS } from '@pgferry/test/pg-server';

export type Db = pg.Pool | pg.Client | pg.PoolClient;

export async function rows<T extends pg.QueryResultRow = Record<string, unknown>>(
  db: Db,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return (await db.query<T>(text, params)).rows;
}

/** The single value of a one-row, one-column query. */
export async function value<T = unknown>(db: Db, text: string, params: unknown[] = []): Promise<T> {
  const res = await db.query({ text, values: params, rowMode: 'array' });
  expect(res.rows.length).toBe(1);
  return (res.rows[0] as unknown[])[0] as T;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export async function connectMany(url: string, n: number): Promise<pg.Client[]> {
  return Promise.all(Array.from({ length: n }, () => connect(url)));
}

export async function endAll(clients: pg.Client[]): Promise<void> {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
}

/** Drop a connection the hard way: the server kills the backend (a consumer that dies). */
export async function killConnection(admin: Db, victim: pg.Client): Promise<void> {
  const pid = await value<number>(victim, 'SELECT pg_backend_pid()');
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  await victim.end().catch(() => undefined);
}

export interface Ev {
  ev_id: string;
  ev_txid: string;
  ev_retry: number | null;
  ev_type: string | null;
  ev_data: string | null;
  ev_extra1: string | null;
  ev_extra2: string | null;
}

const EV_COLS = 'ev_id, ev_txid::text AS ev_txid, ev_retry, ev_type, ev_data, ev_extra1, ev_extra2';

export async function createQueue(db: Db, name: string, ntables = 3): Promise<number> {
  expect(await value<number>(db, 'SELECT pgferry.create_queue($1, $2)', [name, ntables])).toBe(1);
  return value<number>(db, 'SELECT queue_id FROM pgferry.queue WHERE queue_name = $1', [name]);
}

export async function register(db: Db, queue: string, consumer: string): Promise<void> {
  expect(await value<number>(db, 'SELECT pgferry.register_consumer($1, $2)', [queue, consumer])).toBe(1);
}

export async function insertEvent(db: Db, queue: string, type: string, data: string, extra1?: string): Promise<string> {
  return value<string>(db, 'SELECT pgferry.insert_event($1, $2, $3, $4)', [queue, type, data, extra1 ?? null]);
}

export async function tick(db: Db, queue: string): Promise<string> {
  return value<string>(db, 'SELECT pgferry.force_tick($1)', [queue]);
}

export async function nextBatch(db: Db, queue: string, consumer: string): Promise<string | null> {
  return value<string | null>(db, 'SELECT pgferry.next_batch($1, $2)', [queue, consumer]);
}

export async function finishBatch(db: Db, batch: string): Promise<number> {
  return value<number>(db, 'SELECT pgferry.finish_batch($1)', [batch]);
}

export async function batchEvents(db: Db, batch: string): Promise<Ev[]> {
  return rows<Ev>(db, `SELECT ${EV_COLS} FROM pgferry.get_batch_events($1)`, [batch]);
}

/** How a test consumer reads a batch: the three ways the SQL layer offers. */
export type ReadMode = 'events' | 'cursor' | 'sql';

/**
 * Read a batch's events. 'cursor' opens get_batch_cursor() and FETCHes in small pages;
 * 'sql' runs batch_event_sql() as the client would through its own cursor.
 */
export async function readBatch(db: Db, batch: string, mode: ReadMode): Promise<Ev[]> {
  if (mode === 'events') return batchEvents(db, batch);
  if (mode === 'sql') {
    const text = await value<string>(db, 'SELECT pgferry.batch_event_sql($1)', [batch]);
    return rows<Ev>(db, `SELECT ${EV_COLS} FROM (${text}) b ORDER BY ev_id`);
  }
  await db.query('BEGIN');
  try {
    const name = `batch_${batch}`;
    expect(await value<string>(db, 'SELECT pgferry.get_batch_cursor($1, $2)', [batch, name])).toBe(name);
    const out: Ev[] = [];
    for (;;) {
      const page = await rows<Record<string, unknown>>(db, `FETCH 7 FROM "${name}"`);
      if (page.length === 0) break;
      for (const r of page) {
        out.push({
          ev_id: String(r.ev_id),
          ev_txid: String(r.ev_txid),
          ev_retry: r.ev_retry as number | null,
          ev_type: r.ev_type as string | null,
          ev_data: r.ev_data as string | null,
          ev_extra1: r.ev_extra1 as string | null,
          ev_extra2: r.ev_extra2 as string | null,
        });
      }
    }
    await db.query('COMMIT');
    return out;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface Delivery {
  batch: string;
  events: Ev[];
}

/** Take every batch available now (until next_batch returns NULL), finishing each. */
export async function drain(db: Db, queue: string, consumer: string, mode: ReadMode = 'events'): Promise<Delivery[]> {
  const out: Delivery[] = [];
  for (;;) {
    const batch = await nextBatch(db, queue, consumer);
    if (batch === null) return out;
    const events = await readBatch(db, batch, mode);
    expect(await finishBatch(db, batch)).toBe(1);
    out.push({ batch, events });
  }
}

export const dataOf = (deliveries: Delivery[]): string[] =>
  deliveries.flatMap((d) => d.events.map((e) => e.ev_data ?? '')).sort();

/** Assert that a promise fails with this SQLSTATE and a message matching the pattern. */
export async function expectSqlError(p: Promise<unknown>, code: string, message?: RegExp): Promise<pg.DatabaseError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected SQLSTATE ${code}`).toBeInstanceOf(pg.DatabaseError);
  const e = caught as pg.DatabaseError;
  expect({ code: e.code, message: e.message }).toMatchObject({ code });
  if (message) expect(e.message).toMatch(message);
  return e;
}

/** Deterministic pseudo-random numbers (a failing run can be replayed with its seed). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** Poll until the check returns true (a condition that other sessions may delay). */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** Rotation phase 1 for one queue, in its own transaction. Returns 1 if it switched. */
export async function rotateStep1(db: Db, queue: string): Promise<number> {
  return value<number>(db, 'SELECT pgferry.maint_rotate_tables_step1($1)', [queue]);
}

/** Rotation phase 2, in its own transaction. Returns the number of queues completed. */
export async function rotateStep2(db: Db): Promise<number> {
  return value<number>(db, 'SELECT pgferry.maint_rotate_tables_step2()');
}

/**
 * A full rotation: phase 1 (retried while something else holds it back, e.g. a long
 * transaction of another test file keeps tick snapshots old), then phase 2.
 */
export async function rotate(db: Db, queue: string, catchUp?: () => Promise<unknown>): Promise<void> {
  await until(async () => {
    if ((await rotateStep1(db, queue)) === 1) return true;
    // Consumers must get past the last switch; a tick with a newer snapshot lets them.
    if (catchUp) {
      await tick(db, queue);
      await catchUp();
    }
    return false;
  }, `rotation step 1 of ${queue}`);
  await completeStep2(db, queue);
}

/** A new tick whose snapshot is past the queue's last switch (other sessions may hold it back). */
export async function tickPastSwitch(db: Db, queue: string): Promise<string> {
  let t = '';
  await until(async () => {
    t = await tick(db, queue);
    return value<boolean>(
      db,
      `SELECT pg_snapshot_xmin(t.tick_snapshot) >= q.queue_switch_step2
         FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue WHERE t.tick_id = $1`,
      [t],
    );
  }, `a tick of ${queue} past the switch`);
  return t;
}

/** Run phase 2 until this queue's switch is complete (an older snapshot may delay it). */
export async function completeStep2(db: Db, queue: string): Promise<void> {
  await until(async () => {
    await rotateStep2(db);
    return value<boolean>(db, 'SELECT queue_switch_step2 IS NOT NULL FROM pgferry.queue WHERE queue_name = $1', [queue]);
  }, `rotation step 2 of ${queue}`);
}

export async function curTable(db: Db, queue: string): Promise<number> {
  return value<number>(db, 'SELECT queue_cur_table FROM pgferry.get_queue_info($1)', [queue]);
}

export interface DedicatedDatabase {
  url: string;
  pool: pg.Pool;
}

/**
 * A database on a PostgreSQL server of its own, with pgferry installed, for tests that
 * assert on the exact shape of snapshots: txids are cluster-wide, so on the shared server
 * the transactions of other test files show up in every snapshot. Autovacuum is off for
 * the same reason (an ANALYZE takes a txid).
 */
export function useDedicatedDatabase(): DedicatedDatabase {
  const db = {} as DedicatedDatabase;
  let server: PgServer | undefined;
  beforeAll(async () => {
    server = await PgServer.start({ name: 'pgferry-sql-own', settings: { ...TEST_SETTINGS, autovacuum: 'off' } });
    db.url = await server.createDatabase('own');
    db.pool = new pg.Pool({ connectionString: db.url, max: 4 });
    db.pool.on('error', () => undefined);
    await install(db.pool);
  });
  afterAll(async () => {
    await db.pool?.end();
    await server?.destroy();
  });
  return db;
}
