/**
 * The resumable copy (issue 11): a large table is copied in key-range chunks; the worker (a
 * child process) is SIGKILLed three times in the middle of the copy while writers insert,
 * update, delete and move keys everywhere in the table (in ranges already copied and in
 * those not yet). Each restart resumes after the last committed key: the rows committed
 * before a kill are exactly those the resume keeps (never copied again), the rows copied
 * over all attempts stay close to the table's size, and at the end provider and subscriber
 * are identical, row by row. Also with a composite key of text, timestamptz and numeric
 * (text forms with tabs, backslashes, newlines and quotes; sub-second times; long numerics).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addTable, createLeafNode, createRootNode, getStatus, listTables } from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { rng, startTwoServers, stopTwoServers, waitFor, waitForApplied, type TwoServers } from './helpers.js';
import { WorkerProcess } from './worker-process.js';

const ROWS = 300_000;
const CHUNK = 15_000;
const KILLS = 3;

interface CopyRow {
  st_state: string;
  st_copied_rows: string | null;
  st_copy_chunks: number;
  st_copy_resumes: number;
  st_copy_resumed_rows: string;
}

async function copyRow(sub: pg.Pool, source: string): Promise<CopyRow | undefined> {
  const { rows } = await sub.query<CopyRow>(
    `SELECT st_state, st_copied_rows, st_copy_chunks, st_copy_resumes, st_copy_resumed_rows
       FROM pgferry.subscriber_table WHERE st_subscription = 'leaf1' AND st_source = $1`,
    [source],
  );
  return rows[0];
}

/** Every row of `table` as text, in key order (exact: the pools pin no settings, both sides alike). */
async function rowsOf(db: pg.Pool, table: string, orderBy: string): Promise<string[]> {
  const { rows } = await db.query<{ r: string }>(`SELECT t::text AS r FROM ${table} t ORDER BY ${orderBy}`);
  return rows.map((r) => r.r);
}

/** Provider and subscriber hold the same rows; on a difference, the first few keys that differ. */
async function expectIdentical(env: TwoServers, table: string, orderBy: string): Promise<void> {
  const [p, s] = await Promise.all([rowsOf(env.provider, table, orderBy), rowsOf(env.subscriber, table, orderBy)]);
  const only = (a: string[], b: string[]) => {
    const set = new Set(b);
    return a.filter((x) => !set.has(x)).slice(0, 5);
  };
  expect({ count: s.length, onlyProvider: only(p, s), onlySubscriber: only(s, p) }).toEqual({ count: p.length, onlyProvider: [], onlySubscriber: [] });
  expect(s).toEqual(p);
}

/** The last writes applied, without an error on the way. */
async function caughtUp(env: TwoServers): Promise<void> {
  await waitForApplied(env);
  expect((await getStatus(env.subscriber, 'leaf1', env.provider)).lastError).toBeNull();
}

/** Writers on the provider until stopped: random transactions (some rolled back) of `ops`. */
function startWriters(db: pg.Pool, seed: number, ops: ((c: pg.PoolClient, int: (lo: number, hi: number) => number) => Promise<unknown>)[]) {
  const random = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const stats = { commits: 0, rollbacks: 0, errors: 0 };
  let stopping = false;
  const writer = async () => {
    while (!stopping) {
      const c = await db.connect();
      try {
        await c.query('BEGIN');
        for (let n = int(1, 4); n > 0; n--) await ops[int(0, ops.length - 1)]!(c, int);
        if (random() < 0.15) {
          await c.query('ROLLBACK');
          stats.rollbacks++;
        } else {
          await c.query('COMMIT');
          stats.commits++;
        }
      } catch {
        stats.errors++;
        await c.query('ROLLBACK').catch(() => undefined);
      } finally {
        c.release();
      }
      await new Promise((r) => setTimeout(r, int(1, 10)));
    }
  };
  const running = [writer(), writer(), writer()];
  return {
    stats,
    async stop() {
      stopping = true;
      await Promise.all(running);
      return stats;
    },
  };
}

/**
 * Kill the worker `kills` times, each once it has committed at least one more chunk since
 * it started (so every kill lands in the middle of the copy, after progress): returns the
 * rows committed at each kill.
 */
async function killDuringCopy(env: TwoServers, worker: WorkerProcess, source: string, kills: number): Promise<number[]> {
  const committedAtKill: number[] = [];
  for (let i = 0; i < kills; i++) {
    await worker.start();
    const before = (await copyRow(env.subscriber, source))!.st_copy_chunks;
    await waitFor(`chunk ${before + 1} of ${source}`, async () => (await copyRow(env.subscriber, source))!.st_copy_chunks > before, 120_000, 20);
    await worker.kill();
    const row = (await copyRow(env.subscriber, source))!;
    expect(row.st_state).toBe('in-copy'); // killed in the middle of the copy
    committedAtKill.push(Number(row.st_copied_rows));
  }
  return committedAtKill;
}

describe('resumable copy', () => {
  let env: TwoServers;
  let worker: WorkerProcess;

  beforeAll(async () => {
    env = await startTwoServers('copy-resume');
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
    worker = new WorkerProcess(
      {
        subscriptions: [{
          subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl,
          pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000, copyChunkRows: CHUNK,
        }],
        tickIntervalMs: 100,
      },
      { standby: 1 },
    );
  });

  // A test that fails leaves no worker running into the next one.
  afterEach(() => worker.kill());

  afterAll(async () => {
    await worker?.close().catch(() => undefined);
    await stopTwoServers(env);
  });

  it(`resumes a ${ROWS}-row copy after each of ${KILLS} SIGKILLs, under writes, and ends identical`, { timeout: 600_000 }, async () => {
    // Even keys; writers insert odd ones everywhere, so every chunk's range changes.
    await env.provider.query(`
      CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
      INSERT INTO big SELECT 2 * g, g, repeat(md5(g::text), 3) FROM generate_series(1, ${ROWS}) g;
      ANALYZE big;
    `);
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'big', create: true });
    const max = 2 * ROWS;
    let next = max + 1;
    const writers = startWriters(env.provider, 11, [
      (c, int) => c.query(`INSERT INTO big VALUES ($1, -1, 'odd') ON CONFLICT DO NOTHING`, [2 * int(0, ROWS) + 1]),
      (c, int) => c.query(`UPDATE big SET v = v + 1, pad = 'updated' WHERE id = $1`, [int(1, max)]),
      (c, int) => c.query(`UPDATE big SET v = v - 1 WHERE id BETWEEN $1 AND $1 + 40`, [int(1, max)]),
      (c, int) => c.query(`DELETE FROM big WHERE id = $1`, [int(1, max)]),
      // A key moves: out of a range copied already into one not copied yet, and back.
      (c, int) => c.query(`UPDATE big SET id = $1 WHERE id = $2`, [(next += 2), int(1, max)]),
      (c, int) => c.query(`UPDATE big SET id = $1 WHERE id = $2 AND NOT EXISTS (SELECT FROM big WHERE id = $1)`, [2 * int(0, ROWS) + 1, int(1, max)]),
    ]);
    try {
      const committedAtKill = await killDuringCopy(env, worker, 'public.big', KILLS);
      // Each kill after more progress, none at the end of the copy.
      for (let i = 1; i < KILLS; i++) expect(committedAtKill[i]).toBeGreaterThan(committedAtKill[i - 1]!);
      expect(committedAtKill[0]).toBeGreaterThan(0);
      expect(committedAtKill[KILLS - 1]).toBeLessThan(ROWS);

      await worker.start();
      await waitFor('the copy and its hand-off', async () => (await listTables(env.subscriber, 'leaf1'))[0]?.state === 'ok', 300_000, 200);
      const done = (await copyRow(env.subscriber, 'public.big'))!;
      // Every restart resumed, keeping exactly the rows committed before its kill.
      expect(done.st_copy_resumes).toBe(KILLS);
      expect(Number(done.st_copy_resumed_rows)).toBe(committedAtKill.reduce((a, b) => a + b, 0));
      // Rows copied over all attempts: the table once (plus the writers' inserts), never twice.
      const copied = Number(done.st_copied_rows);
      expect(copied).toBeGreaterThan(ROWS * 0.9);
      expect(copied).toBeLessThan(ROWS * 1.1);
      expect(done.st_copy_chunks).toBeGreaterThanOrEqual(Math.floor(ROWS / CHUNK));

      const status = await pgferry(['replicate', 'status', '--subscriber', env.subscriberUrl, '--node', 'leaf1', '--json']);
      const table = JSON.parse(status.stdout).tables[0];
      expect(table.copy).toMatchObject({ committedRows: copied, percent: 100, resumes: KILLS, resumedRows: Number(done.st_copy_resumed_rows) });
      const text = await pgferry(['replicate', 'status', '--subscriber', env.subscriberUrl, '--node', 'leaf1']);
      expect(text.stdout).toContain(`resumed ${KILLS}x`);
    } finally {
      await writers.stop();
    }
    expect(writers.stats.commits).toBeGreaterThan(50);
    await caughtUp(env);
    await expectIdentical(env, 'big', 'id');
    const missing = (await listTables(env.subscriber, 'leaf1'))[0]!;
    expect({ missingUpdates: missing.missingUpdates, missingDeletes: missing.missingDeletes }).toEqual({ missingUpdates: 0, missingDeletes: 0 });
    await worker.stop();
  });

  it('resumes a copy keyed by (text, timestamptz, numeric) after a kill, and ends identical', { timeout: 600_000 }, async () => {
    // Keys whose text forms need care: tabs, newlines, backslashes, quotes, non-ASCII, NUL-free;
    // times with microseconds across time zones; numerics with many digits, negative, scale.
    await env.provider.query(`
      CREATE TABLE composite (region text, at timestamptz, seq numeric, v text, PRIMARY KEY (region, at, seq));
      INSERT INTO composite
      SELECT (ARRAY['a', E'tab\\there', E'new\\nline', E'back\\\\slash', 'quo''te "x"', 'ünï ☃', 'Z'])[1 + g % 7] || (g % 13),
             '2024-03-10 01:59:59.123456+00'::timestamptz + (g % 997) * interval '1.000001 second',
             (g / 7) * 1.000000000000000001 - 5000,
             'v' || g
        FROM generate_series(1, 60000) g
      ON CONFLICT DO NOTHING;
      ANALYZE composite;
    `);
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'composite', create: true });
    const writers = startWriters(env.provider, 12, [
      (c, int) => c.query(`INSERT INTO composite VALUES ($1, now(), $2, 'new') ON CONFLICT DO NOTHING`, [`w${int(0, 30)}`, int(-9000, 9000) / 7]),
      (c, int) => c.query(`UPDATE composite SET v = v || '+' WHERE ctid = (SELECT ctid FROM composite OFFSET $1 LIMIT 1)`, [int(0, 50000)]),
      (c, int) => c.query(`DELETE FROM composite WHERE ctid = (SELECT ctid FROM composite OFFSET $1 LIMIT 1)`, [int(0, 50000)]),
      (c, int) => c.query(`UPDATE composite SET seq = seq + 0.5 WHERE ctid = (SELECT ctid FROM composite OFFSET $1 LIMIT 1)`, [int(0, 50000)]),
    ]);
    try {
      const committedAtKill = await killDuringCopy(env, worker, 'public.composite', 1);
      expect(committedAtKill[0]).toBeGreaterThan(0);
      await worker.start();
      await waitFor('the copy and its hand-off', async () => (await copyRow(env.subscriber, 'public.composite'))?.st_state === 'ok', 300_000, 200);
      const done = (await copyRow(env.subscriber, 'public.composite'))!;
      expect(done.st_copy_resumes).toBe(1);
      expect(Number(done.st_copy_resumed_rows)).toBe(committedAtKill[0]);
      expect(Number(done.st_copied_rows)).toBeLessThan(60000 * 1.1);
    } finally {
      await writers.stop();
    }
    await caughtUp(env);
    await expectIdentical(env, 'composite', 'region, at, seq');
    await worker.stop();
  });
});
