/**
 * The aggregate handler between two real servers: a summary table on the subscriber kept
 * equal, row by row, to the same GROUP BY run on the provider: from the initial copy (rows
 * that existed before add-table), through a randomized workload (inserts, updates that move
 * rows between groups and change aggregated values, key updates, deletes, swaps of a
 * UNIQUE value that send batches to the ordered apply, rollbacks, three writers at once, a
 * TRUNCATE), while the worker (a child process) is SIGKILLed now and then and the table is
 * resynced in the middle. Bad arguments are refused at add-table, with nothing registered.
 *
 * Replay a run with PGFERRY_AGG_SEED=<seed>; PGFERRY_AGG_LOG=1 prints the workers' log at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { capturedTable } from '@pgferry/queue';
import { HandlerArgsError, addTable, createLeafNode, createRootNode, listTables, resyncTable } from '@pgferry/replicator';
import { rng, startTwoServers, stopTwoServers, tableJson, waitFor, type TwoServers } from './helpers.js';
import { WorkerProcess } from './worker-process.js';

const SEED = Number(process.env.PGFERRY_AGG_SEED ?? Date.now() % 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SALES = `(id bigint PRIMARY KEY, region text NOT NULL, product int NOT NULL, amount numeric(12,2), qty int,
                ts timestamptz, ref int UNIQUE, note text)`;
const ARGS = {
  summary: 'sales_summary',
  group: 'region, product',
  aggregates: 'count,sum:amount,min:ts,max:ts,count:amount,avg:amount,max:qty,min:qty',
};
const AGGREGATES = `count(*) AS count, sum(amount) AS sum_amount, min(ts) AS min_ts, max(ts) AS max_ts,
                    count(amount) AS count_amount, avg(amount) AS avg_amount, max(qty) AS max_qty, min(qty) AS min_qty`;
const OUTPUTS = 'count, sum_amount, min_ts, max_ts, count_amount, avg_amount, max_qty, min_qty';

/** The provider's GROUP BY, as the summary's rows. */
const providerSummary = (db: pg.Pool) =>
  tableJson(db, `(SELECT region, product, ${AGGREGATES} FROM sales GROUP BY region, product) AS x`, 'region, product');
const subscriberSummary = (db: pg.Pool) => tableJson(db, 'sales_summary', 'region, product', `region, product, ${OUTPUTS}`);

// Column names the handler's statements use as aliases, one to be quoted, and a summary
// whose name needs quotes: every name must be quoted and qualified.
const ODD = `(id int PRIMARY KEY, g text NOT NULL, "S" int, d int, m numeric)`;
const ODD_ARGS = { summary: '"Odd Summary"', group: 'g', aggregates: 'count, sum:S, max:d, min:m, avg:m' };
const oddProvider = (db: pg.Pool) =>
  tableJson(db, `(SELECT g, count(*) AS count, sum("S") AS "sum_S", max(d) AS max_d, min(m) AS min_m, avg(m) AS avg_m FROM odd GROUP BY g) AS x`, 'g');
const oddSubscriber = (db: pg.Pool) => tableJson(db, '"Odd Summary"', 'g', 'g, count, "sum_S", max_d, min_m, avg_m');

describe(`aggregate handler (seed ${SEED})`, () => {
  let env: TwoServers;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    env = await startTwoServers('repl-agg');
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
    await env.provider.query(`CREATE TABLE sales ${SALES}`);
    // Rows before add-table: the summary's initial state comes from their copy.
    await env.provider.query(`
      INSERT INTO sales SELECT g, (ARRAY['north', 'south', 'east', 'west'])[1 + g % 4], 1 + g % 5,
                               CASE WHEN g % 11 = 0 THEN NULL ELSE (g % 97) * 1.25 END, g % 13,
                               '2024-01-01'::timestamptz + g * interval '17 minutes', g, NULL
        FROM generate_series(1, 3000) g`);
    await env.provider.query(`CREATE TABLE odd ${ODD}`);
    await env.provider.query(`INSERT INTO odd SELECT x, 'g' || x % 7, x % 10, x, x / 3.0 FROM generate_series(1, 500) x`);
  });

  afterAll(async () => {
    await worker?.close().catch(() => undefined);
    await stopTwoServers(env);
  });

  it('refuses bad arguments at add-table, registering and creating nothing', async () => {
    const add = (handlerArgs: Record<string, string>) =>
      addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'sales', create: true, handler: 'aggregate', handlerArgs });
    const cases: [Record<string, string>, RegExp][] = [
      [{ group: 'region' }, /argument "summary" is missing/],
      [{ summary: 'a.b.c', group: 'region' }, /argument "summary".*not a table name/],
      [{ summary: 's', group: 'region, nope' }, /argument "group".*no replicated column "nope"/],
      [{ summary: 's' }, /argument "group" is missing/],
      [{ summary: 's', group: 'region', aggregates: 'median:amount' }, /argument "aggregates".*"median:amount" is not an aggregate/],
      [{ summary: 's', group: 'region', aggregates: 'count,sum' }, /argument "aggregates".*"sum" names no column/],
      [{ summary: 's', group: 'region', aggregates: 'max:nope' }, /argument "aggregates".*no replicated column "nope"/],
      [{ summary: 's', group: 'region', aggregates: 'count,count' }, /argument "aggregates".*column "count" twice/],
      [{ summary: 's', group: 'region', grup: 'x' }, /unknown argument "grup"/],
      // Checked on the subscriber, in the registering transaction (rolled back).
      [{ summary: 's', group: 'region', aggregates: 'sum:note' }, /argument "aggregates".*sum\(text\)/],
      [{ summary: 's', group: 'note' }, /argument "group".*"note".*may be NULL/],
    ];
    for (const [args, message] of cases) {
      const err = await add(args).then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(args)).toBeInstanceOf(HandlerArgsError);
      expect((err as Error).message, JSON.stringify(args)).toMatch(message);
    }
    // A summary table that exists without the columns.
    await env.subscriber.query('CREATE TABLE wrong_summary (region text PRIMARY KEY, total bigint)');
    const err = await add({ summary: 'wrong_summary', group: 'region' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HandlerArgsError);
    expect((err as Error).message).toMatch(/argument "summary".*without column\(s\) "count"/);
    await env.subscriber.query('DROP TABLE wrong_summary');

    expect(await listTables(env.subscriber, 'leaf1')).toEqual([]);
    expect(await capturedTable(env.provider, 'repl', 'public.sales')).toBeUndefined();
    const left = await env.subscriber.query(`SELECT to_regclass('sales') AS d, to_regclass('s') AS s`);
    expect(left.rows[0]).toEqual({ d: null, s: null });
  });

  it('keeps the summary equal to the provider\'s GROUP BY through kills, a TRUNCATE and a resync', { timeout: 240_000 }, async () => {
    // The subscriber's ref is UNIQUE and not deferrable: swaps send batches to the ordered apply.
    await env.subscriber.query(`CREATE TABLE sales ${SALES}`);
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'sales', handler: 'aggregate', handlerArgs: ARGS });
    // Created at add-table: the summary (its primary key the group columns) and an index for the recompute.
    const made = await env.subscriber.query<{ pk: string | null; idx: boolean }>(`
      SELECT (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'sales_summary'::regclass AND contype = 'p') AS pk,
             EXISTS (SELECT FROM pg_index WHERE indrelid = 'sales'::regclass AND indkey::text = '2 3') AS idx`);
    expect(made.rows[0]).toEqual({ pk: 'PRIMARY KEY (region, product)', idx: true });
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'odd', create: true, handler: 'aggregate', handlerArgs: ODD_ARGS });

    worker = new WorkerProcess({
      subscriptions: [{
        subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl,
        pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000, maxKeysPerFlush: 300,
      }],
      tickIntervalMs: 100,
    });
    const t0 = Date.now();
    await worker.start();
    const synced = async () => {
      const tables = await listTables(env.subscriber, 'leaf1');
      return tables.length === 2 && tables.every((t) => t.state === 'ok') &&
        (await providerSummary(env.provider)) === (await subscriberSummary(env.subscriber)) &&
        (await oddProvider(env.provider)) === (await oddSubscriber(env.subscriber));
    };
    // The initial state, from the copy alone.
    await waitFor('the summary of the copied rows', synced);
    expect(JSON.parse(await subscriberSummary(env.subscriber))).toHaveLength(20);
    expect(JSON.parse(await oddSubscriber(env.subscriber))).toHaveLength(7);

    const copiedAt = Date.now();
    const random = rng(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const regions = ['north', 'south', 'east', 'west', 'up'];
    let nextId = 10_000;
    let nextRef = 10_000;
    const stats = { commits: 0, rollbacks: 0, errors: 0, swaps: 0 };
    let nextOdd = 1000;
    const ops: ((c: pg.PoolClient) => Promise<unknown>)[] = [
      (c) => c.query(`INSERT INTO odd VALUES ($1, $2, $3, $1, $4)`, [++nextOdd, `g${int(0, 8)}`, int(0, 20), (int(0, 9999) / 7).toFixed(3)]),
      (c) => c.query(`UPDATE odd SET g = $2, "S" = "S" + 1, m = m - 1 WHERE id = $1`, [int(1, 500), `g${int(0, 8)}`]),
      (c) => c.query(`DELETE FROM odd WHERE id = $1`, [int(1, 500)]),
      (c) => c.query(`INSERT INTO sales VALUES ($1, $2, $3, $4, $5, now() - $6 * interval '1 hour', $7)`,
        [++nextId, pick(regions), int(1, 6), random() < 0.1 ? null : (int(0, 100_000) / 100).toFixed(2), int(-5, 50), int(0, 5000), ++nextRef]),
      (c) => {
        const from = nextId + 1;
        nextId += 40;
        nextRef += 40;
        return c.query(`INSERT INTO sales SELECT g, $3, 1 + g % 6, g % 50, g % 7, now(), g FROM generate_series($1::bigint, $2::bigint) g`,
          [from, nextId, pick(regions)]);
      },
      (c) => c.query(`UPDATE sales SET amount = amount + 1.5, qty = qty - 1 WHERE id = $1`, [int(1, 3000)]),
      (c) => c.query(`UPDATE sales SET region = $2, product = $3 WHERE id = $1`, [int(1, 3000), pick(regions), int(1, 6)]),
      (c) => c.query(`UPDATE sales SET product = product % 6 + 1, ts = ts - interval '3 days' WHERE id BETWEEN $1 AND $1 + 20`, [int(1, 3000)]),
      (c) => c.query(`UPDATE sales SET amount = NULL WHERE id = $1`, [int(1, 3000)]),
      (c) => c.query(`DELETE FROM sales WHERE id = $1`, [int(1, 3000)]),
      (c) => c.query(`DELETE FROM sales WHERE id BETWEEN $1 AND $1 + 8`, [int(1, nextId)]),
      // The row with the group's extreme value goes: min/max must come from the remaining rows.
      (c) => c.query(`DELETE FROM sales WHERE id = (SELECT id FROM sales WHERE region = $1 ORDER BY ts DESC LIMIT 1)`, [pick(regions)]),
      (c) => c.query(`UPDATE sales SET id = $1 WHERE id = $2`, [++nextId, int(1, 3000)]),
    ];
    // Swap two rows' ref, each statement valid on its own, and move them to other groups;
    // coalesced, the batch is not: it goes to the ordered apply, event by event (slow on a
    // big batch: so once the rest has converged, in a small batch).
    const swap = async () => {
      const c = await env.provider.connect();
      try {
        await c.query('BEGIN');
        const [a, b] = [int(1, 3000), int(1, 3000)];
        const { rows } = await c.query<{ id: string; ref: number }>(
          `SELECT id, ref FROM sales WHERE id IN ($1, $2) AND ref IS NOT NULL ORDER BY id FOR UPDATE`, [a, b]);
        if (rows.length === 2) {
          await c.query(`UPDATE sales SET ref = -ref WHERE id = $1`, [rows[0]!.id]);
          await c.query(`UPDATE sales SET ref = $2 WHERE id = $1`, [rows[1]!.id, rows[0]!.ref]);
          await c.query(`UPDATE sales SET ref = $2 WHERE id = $1`, [rows[0]!.id, rows[1]!.ref]);
          await c.query(`UPDATE sales SET region = 'swapped', amount = amount * 2 WHERE id IN ($1, $2)`, [rows[0]!.id, rows[1]!.id]);
          stats.swaps++;
        }
        await c.query('COMMIT');
      } catch {
        stats.errors++;
        await c.query('ROLLBACK').catch(() => undefined);
      } finally {
        c.release();
      }
    };
    let stopping = false;
    const writer = async () => {
      while (!stopping) {
        const c = await env.provider.connect();
        try {
          await c.query('BEGIN');
          for (let i = int(1, 4); i > 0; i--) await pick(ops)(c);
          if (random() < 0.2) {
            await c.query('ROLLBACK');
            stats.rollbacks++;
          } else {
            await c.query('COMMIT');
            stats.commits++;
          }
          c.release();
        } catch {
          // Deadlocks and unique violations between the writers.
          stats.errors++;
          await c.query('ROLLBACK').catch(() => undefined);
          c.release();
        }
        await sleep(int(1, 20));
      }
    };
    const writers = [writer(), writer(), writer()];

    // About 20 s of writes (5 kills at least, every 1.5-3 s), the TRUNCATE after 8 s, the resync after 14.
    const started = Date.now();
    let truncated = false;
    let resynced = false;
    while (Date.now() - started < 20_000 || worker.kills < 5) {
      await sleep(int(1500, 3000));
      await worker.kill();
      if (!truncated && Date.now() - started > 8000) {
        await env.provider.query(`BEGIN; TRUNCATE sales;
          INSERT INTO sales SELECT g, (ARRAY['north', 'south', 'up'])[1 + g % 3], 1 + g % 4, g % 31, g % 5, now() - g * interval '1 minute', g
            FROM generate_series(1, 3000) g; COMMIT`);
        truncated = true;
      }
      if (!resynced && Date.now() - started > 14_000) {
        await resyncTable(env.subscriber, { subscription: 'leaf1', table: 'sales' });
        resynced = true;
      }
      await worker.start();
    }
    stopping = true;
    await Promise.all(writers);
    const writtenAt = Date.now();

    try {
      await waitFor('the summary to equal the provider\'s GROUP BY', synced, 90_000, 250);
    } catch (err) {
      console.error(worker.log.slice(-5000));
      throw err;
    }
    expect(await tableJson(env.subscriber, 'sales')).toBe(await tableJson(env.provider, 'sales'));
    const convergedAt = Date.now();
    const ordered = () => worker!.log.match(/was applied in the provider's order/g)?.length ?? 0;
    const orderedBefore = ordered();
    while (stats.swaps < 1) await swap();
    await waitFor('the summary after a batch applied in order', async () => ordered() > orderedBefore && (await synced()));
    expect(await tableJson(env.subscriber, 'sales')).toBe(await tableJson(env.provider, 'sales'));
    expect(JSON.parse(await subscriberSummary(env.subscriber)).length).toBeGreaterThan(10);
    for (const t of await listTables(env.subscriber, 'leaf1')) expect([t.source, t.missingUpdates, t.missingDeletes]).toEqual([t.source, 0, 0]);
    expect(await tableJson(env.subscriber, 'odd')).toBe(await tableJson(env.provider, 'odd'));
    expect(worker.kills).toBeGreaterThanOrEqual(5);
    expect([truncated, resynced]).toEqual([true, true]);
    expect(stats.commits).toBeGreaterThan(50);
    expect(stats.rollbacks).toBeGreaterThan(0);
    console.log(`seed ${SEED}: ${worker.kills} worker SIGKILLs; ${stats.commits} commits, ${stats.rollbacks} rollbacks, ` +
      `${stats.errors} failed transactions, ${stats.swaps} swaps; copied in ${copiedAt - t0} ms, ` +
      `wrote for ${writtenAt - copiedAt} ms, converged in ${convergedAt - writtenAt} ms`);
    if (process.env.PGFERRY_AGG_LOG) console.error(worker.log);
    expect(await worker.stop()).toBe(0);
  });
});
