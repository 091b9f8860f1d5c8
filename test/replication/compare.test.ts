/**
 * Online compare and repair, on two servers while the provider is written to: equal tables
 * compare equal; a corrupted subscriber (rows deleted, changed — also only in a value's
 * text form — and added, in random places) lists exactly those keys; repair fixes them and
 * the table then compares equal (or writes them as an SQL script for review); the stream
 * goes on meanwhile, and its pause is lifted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { SubscriptionWorker, addTable, compareTable, getStatus, listTables, type CompareProgress } from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { rng, startReplication, stopReplication, tableJson, waitFor, type Replication } from './helpers.js';

const SEED = Number(process.env.PGFERRY_FAULT_SEED ?? Date.now() % 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes to ids 1..5000 of `items` until stopped (the corrupted rows are above 5000). */
function writer(db: pg.Pool, random: () => number) {
  let stopping = false;
  let commits = 0;
  const int = (n: number) => 1 + Math.floor(random() * n);
  const loop = (async () => {
    while (!stopping) {
      const id = int(5000);
      const op = int(3);
      if (op === 1) await db.query(`UPDATE items SET v = v || '+', n = n + 1 WHERE id = $1`, [id]);
      else if (op === 2) await db.query(`DELETE FROM items WHERE id = $1`, [id]);
      else await db.query(`INSERT INTO items VALUES ($1, 'new', 1, now(), NULL) ON CONFLICT (id) DO UPDATE SET v = 'again'`, [id]);
      commits++;
      await sleep(2);
    }
  })();
  return {
    get commits() {
      return commits;
    },
    stop: async () => {
      stopping = true;
      await loop;
    },
  };
}

describe(`online compare and repair (seed ${SEED})`, () => {
  let r: Replication;
  const random = rng(SEED);

  beforeAll(async () => {
    r = await startReplication('compare');
    await r.provider.query(`CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL, n numeric, ts timestamptz, note text)`);
    await r.provider.query(
      `INSERT INTO items SELECT g, 'v' || g, g / 10.0, '2026-01-01'::timestamptz + g * interval '1 minute', CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' END
         FROM generate_series(1, 20000) g`,
    );
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', create: true });
    await waitFor('items ok', async () => (await listTables(r.subscriber, 'leaf1'))[0]?.state === 'ok');
  });
  afterAll(() => stopReplication(r));

  it('says equal, lists exactly the corrupted keys, repairs them, then says equal; replication goes on meanwhile', async () => {
    const w = writer(r.provider, random);
    try {
      const phases = new Set<string>();
      let split: string | null = null;
      const onProgress = (p: CompareProgress) => {
        phases.add(p.phase);
        split ??= p.partitioning;
      };
      const first = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', onProgress });
      expect(first).toMatchObject({ equal: true, missing: [], extra: [], changed: [] });
      expect(first.providerRows).toBe(first.subscriberRows);
      expect([...phases]).toEqual(expect.arrayContaining(['pausing', 'waiting', 'hashing', 'drilling', 'done']));
      expect(split).toBe('key ranges'); // an integer key: differing ranges are drilled by index

      // Corrupt the subscriber in random places the writer does not touch.
      const pick = new Set<number>();
      while (pick.size < 15) pick.add(5001 + Math.floor(random() * 15000));
      const [deleted, changed, retyped] = [[...pick].slice(0, 5), [...pick].slice(5, 10), [...pick].slice(10, 15)];
      await r.subscriber.query('DELETE FROM items WHERE id = ANY($1)', [deleted]);
      await r.subscriber.query(`UPDATE items SET v = v || '!' WHERE id = ANY($1)`, [changed]);
      // Equal as numbers, not as text: a replica must hold the provider's exact value.
      await r.subscriber.query(`UPDATE items SET n = n::numeric(20,4) WHERE id = ANY($1)`, [retyped]);
      const extra = [-1, -2, -1_000_000]; // -1_000_000: a range below zero
      await r.subscriber.query(`INSERT INTO items SELECT g, 'extra', 0, now(), NULL FROM unnest($1::int[]) g`, [extra]);
      const keys = (ids: number[]) => ids.map((id) => `(${id})`).sort();

      const found = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items' });
      expect(found.equal).toBe(false);
      expect([...found.missing].sort()).toEqual(keys(deleted));
      expect([...found.changed].sort()).toEqual(keys([...changed, ...retyped]));
      expect([...found.extra].sort()).toEqual(keys(extra));
      expect(Number(found.tick)).toBeGreaterThan(Number(first.tick));

      const repaired = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', repair: true });
      expect(repaired.repaired).toEqual({ deleted: 3 + 10, written: 5 + 10 });
      const after = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items' });
      expect(after).toMatchObject({ equal: true, missing: [], extra: [], changed: [] });

      // The stream went on: the writer's changes after the last compare arrive.
      const applied = r.worker.stats.batches;
      const commits = w.commits;
      await waitFor('more writes', async () => w.commits > commits + 20);
      await waitFor('more batches', async () => r.worker.stats.batches > applied);
    } finally {
      await w.stop();
    }
    await waitFor('tables equal', async () => (await tableJson(r.provider, 'items')) === (await tableJson(r.subscriber, 'items')));
    const { rows } = await r.subscriber.query(`SELECT at_pause_tick, at_pause_until FROM pgferry.applied_tick`);
    expect(rows).toEqual([{ at_pause_tick: null, at_pause_until: null }]);
  });

  it('gives up with a clear error when no worker applies the subscription, and leaves no pause behind', async () => {
    await r.worker.stop();
    try {
      await expect(
        compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items', waitMs: 1500 }),
      ).rejects.toThrow(/did not reach tick \d+ within 1500 ms.*is a worker serving it/);
      const { rows } = await r.subscriber.query(`SELECT at_pause_tick FROM pgferry.applied_tick`);
      expect(rows).toEqual([{ at_pause_tick: null }]);
      await expect(compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'nope' })).rejects.toThrow(
        /table "nope" is not in subscription "leaf1"/,
      );
    } finally {
      r.worker = new SubscriptionWorker({ subscription: 'leaf1', provider: r.providerUrl, subscriber: r.subscriberUrl, pollIntervalMs: 50 }).start();
    }
    // With a worker again, the stream catches up and compare says equal.
    const again = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'items' });
    expect(again.equal).toBe(true);
  });

  it('a pause left by a compare that died expires by itself', async () => {
    const { rows } = await r.subscriber.query<{ at_tick_id: string }>(`SELECT at_tick_id FROM pgferry.applied_tick`);
    // Paused at the current position for 1.5 s, as a compare that was killed would leave it.
    await r.subscriber.query(`UPDATE pgferry.applied_tick SET at_pause_tick = $1, at_pause_until = clock_timestamp() + interval '1.5 seconds'`, [rows[0]!.at_tick_id]);
    await r.provider.query(`INSERT INTO items VALUES (-100, 'after the pause', 0, now(), NULL)`);
    await waitFor('the row after the pause', async () => (await r.subscriber.query('SELECT 1 FROM items WHERE id = -100')).rowCount === 1, 30_000);
  });

  it('pgferry replicate compare: exit 1 listing the keys when they differ, 0 once repaired (--json)', async () => {
    await r.subscriber.query(`UPDATE items SET v = 'corrupt' WHERE id = 7777`);
    const args = ['replicate', 'compare', '--provider', r.providerUrl, '--subscriber', r.subscriberUrl, '--node', 'leaf1', 'items'];
    const differs = await pgferry(args);
    expect(differs.code).toBe(1);
    expect(differs.stdout).toMatch(/public\.items -> public\.items at tick \d+: DIFFERENT/);
    expect(differs.stdout).toMatch(/changed \(1\): \(7777\)/);
    expect(differs.stderr).toMatch(/public\.items: hashing at tick \d+/);
    const repaired = await pgferry([...args, '--repair', '--json']);
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ equal: false, changed: ['(7777)'], repaired: { deleted: 1, written: 1 } });
    const equal = await pgferry(args);
    expect([equal.code, equal.stdout]).toEqual([0, expect.stringMatching(/: equal \(/)]);
  });

  it('--repair-sql writes the fixes for review: run on the subscriber they make it equal at that tick; once the subscription moved on they are refused', async () => {
    // Rows above 5000: the first test's writer may have deleted any of 1..5000.
    // A value only exact literals restore (quote, backslash, newline, a zero-padded text form).
    await r.provider.query(`UPDATE items SET note = E'it''s a \\\\ path\nline 2', n = 1.500 WHERE id = 5013`);
    await waitFor('id 5013 replicated', async () => (await tableJson(r.provider, 'items')) === (await tableJson(r.subscriber, 'items')));
    // Quiet from here: no events, and no idle ticks, so the subscription stays at the compared tick.
    await r.provider.query(`SELECT pgferry.set_queue_config('repl', 'ticker_idle_period', '1 hour')`);
    try {
      await r.subscriber.query(`UPDATE items SET v = 'corrupt' WHERE id = 5011; DELETE FROM items WHERE id = 5012;
                                UPDATE items SET note = 'plain', n = 1.5 WHERE id = 5013; INSERT INTO items VALUES (-5, 'extra', 0, now(), NULL)`);
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'pgferry-repair-')), 'fix.items.sql');
      const args = ['replicate', 'compare', '--provider', r.providerUrl, '--subscriber', r.subscriberUrl, '--node', 'leaf1', 'items'];
      const res = await pgferry([...args, '--repair-sql', file]);
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(/fixes written to .*fix\.items\.sql: review it/);
      const script = readFileSync(file, 'utf8');
      expect(script).toMatch(/^DELETE FROM public\.items AS r WHERE r\."id" IN \('-5', '5011', '5013'\);$/m);
      expect((await r.subscriber.query(`SELECT count(*)::int AS n FROM items WHERE id = -5`)).rows[0].n).toBe(1); // nothing applied yet
      await r.subscriber.query(script);
      expect(await tableJson(r.subscriber, 'items')).toBe(await tableJson(r.provider, 'items'));
      // A later tick applied: the same script is refused.
      await r.provider.query(`UPDATE items SET v = 'later' WHERE id = 5013`);
      await waitFor('the later change', async () => (await r.subscriber.query(`SELECT v FROM items WHERE id = 5013`)).rows[0]?.v === 'later');
      await expect(r.subscriber.query(script)).rejects.toThrow(/subscription leaf1 is no longer at tick \d+: compare again/);
    } finally {
      await r.provider.query(`SELECT pgferry.set_queue_config('repl', 'ticker_idle_period', '1 minute')`);
    }
  });

  it('a composite key of text and timestamptz (row-hash buckets), columns named like the hash query\'s own aliases, writers in other time zones', async () => {
    // Column names the generated SQL uses for itself (b, h, key, k0, n, s, x, y, r) must not be shadowed.
    await r.provider.query(
      `CREATE TABLE "Odd Keys" (region text, at timestamptz, b int, h text, key text, k0 int, n numeric, s text, x int, y int, r text, PRIMARY KEY (region, at))`,
    );
    await r.provider.query(
      `INSERT INTO "Odd Keys" SELECT 'reg ' || (g % 7), '2026-03-01 00:00+00'::timestamptz + g * interval '1 second', g, 'h', 'key', g, g / 3.0, 's', g, g, 'r'
         FROM generate_series(1, 5000) g`,
    );
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: '"Odd Keys"', create: true });
    await waitFor('"Odd Keys" ok', async () => (await listTables(r.subscriber, 'leaf1')).every((t) => t.state === 'ok'));
    // A writer in another time zone on the provider; the subscriber corrupted in its own time zone.
    const c = await r.provider.connect();
    try {
      await c.query(`BEGIN; SET LOCAL TimeZone = 'Asia/Kathmandu'`);
      await c.query(`UPDATE "Odd Keys" SET s = 'from Kathmandu' WHERE b % 500 = 0`);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    const cmp = (repair = false) => compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: '"Odd Keys"', repair });
    const progress: CompareProgress[] = [];
    const first = await compareTable(r.provider, r.subscriber, { subscription: 'leaf1', table: '"Odd Keys"', onProgress: (p) => progress.push(p) });
    expect(first).toMatchObject({ equal: true, providerRows: 5000, subscriberRows: 5000 });
    expect(progress.find((p) => p.partitioning)?.partitioning).toBe('row-hash buckets');

    const s = await r.subscriber.connect();
    try {
      await s.query(`BEGIN; SET LOCAL TimeZone = 'America/St_Johns'`);
      await s.query(`DELETE FROM "Odd Keys" WHERE b IN (10, 20)`);
      await s.query(`UPDATE "Odd Keys" SET h = 'changed' WHERE b = 30`);
      await s.query(`INSERT INTO "Odd Keys" VALUES ('extra', '2026-03-01 12:00:00', 0, 'h', 'key', 0, 0, 's', 0, 0, 'r')`);
      await s.query('COMMIT');
    } finally {
      s.release();
    }
    // A key's text form as compare reports it (time zone UTC).
    const key = async (b: number) =>
      (await r.provider.query<{ k: string }>(`SELECT ROW(region, pg_catalog.timezone('UTC', at)::text || '+00')::text AS k FROM "Odd Keys" WHERE b = $1`, [b])).rows[0]!.k;
    const found = await cmp();
    expect(found.equal).toBe(false);
    expect([...found.missing].sort()).toEqual([await key(10), await key(20)].sort());
    expect(found.changed).toEqual([await key(30)]);
    expect(found.extra).toEqual(['(extra,"2026-03-01 15:30:00+00")']);
    const repaired = await cmp(true);
    expect(repaired.repaired).toEqual({ deleted: 2, written: 3 });
    expect((await cmp()).equal).toBe(true);
    const cols = 'region, at, b, h, key, k0, n, s, x, y, r';
    expect(await tableJson(r.subscriber, '"Odd Keys"', 'region, at', cols)).toBe(await tableJson(r.provider, '"Odd Keys"', 'region, at', cols));
  });

  it('status: a caught-up replica on a quiet queue reads lag 0, next to its position tick\'s age', async () => {
    await r.provider.query(`UPDATE items SET v = 'last' WHERE id = 9999`);
    await waitFor('caught up', async () => (await tableJson(r.provider, 'items')) === (await tableJson(r.subscriber, 'items')));
    await sleep(2000); // quiet: no events, so no ticks
    const st = await getStatus(r.subscriber, 'leaf1', r.provider);
    expect(st.lagSeconds).toBe(0);
    expect(st.tickLagSeconds).toBeGreaterThan(1.5);
  });
});
