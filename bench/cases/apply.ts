/**
 * apply: the replicator (ReplicationWorker, public API of @pgferry/replicator) applying
 * 1,000,000 captured row changes — 500,000 inserts, 300,000 updates, 200,000 deletes, each
 * statement its own transaction and tick, distinct keys so nothing coalesces away — to a
 * subscriber on a second server, against COPY of 1,000,000 rows of the same shape into an
 * empty table of the same definition on the subscriber (pg-copy-streams from Node).
 *
 * Between runs the same changes are applied again: the subscriber table is reset to its
 * pre-change contents, its recorded position (pgferry.applied_tick) and the provider's
 * consumer are moved back to the tick before the changes. Only the apply is timed.
 *
 * @pgferry/replicator is imported by path: adding it to bench/package.json would change the
 * workspace lockfile, which this package does not own.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { forceTick, registerConsumerAt } from '@pgferry/queue';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { nowMs } from '../lib/stats.js';
import { WaitSampler } from '../lib/waits.js';

export const CHANGES = Number(process.env.BENCH_APPLY_CHANGES ?? 1_000_000);
export const INSERTS = Math.round(CHANGES * 0.5);
export const UPDATES = Math.round(CHANGES * 0.3);
export const DELETES = CHANGES - INSERTS - UPDATES;
/** Rows present before the changes: the updates and deletes hit these. */
export const INITIAL = UPDATES + DELETES;

export const TABLE = `(id bigint PRIMARY KEY, customer text NOT NULL, sku text NOT NULL, qty int NOT NULL,
  amount numeric(10,2) NOT NULL, note text)`;
export const ROW = (from: string, to: string) => `SELECT g, 'cust-' || ((g * 7919) % 100000), 'SKU-' || ((g * 104729) % 1000000),
  (g % 9)::int + 1, round(((g * 37) % 100000) / 100.0, 2), 'benchmark payload' FROM generate_series(${from}::bigint, ${to}::bigint) g`;

const copyFrom = (() => {
  const req = createRequire(fileURLToPath(new URL('../../packages/replicator/package.json', import.meta.url)));
  return (req('pg-copy-streams') as { from(sql: string): NodeJS.WritableStream & pg.Submittable }).from;
})();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (!(await check())) {
    if (nowMs() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const apply: BenchCase = {
  name: 'apply',
  summary: `replicator applying ${CHANGES.toLocaleString('en-US')} captured changes (50% insert, 30% update, 20% delete) on a second server vs COPY of as many rows`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const prov = await (await ctx.server()).database('apply_provider', { install: false });
    const sub = await (await ctx.secondServer()).database('apply_subscriber', { install: false });
    const worker = () =>
      new ReplicationWorker({
        subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url }],
      });
    try {
      // Setup (not timed): root, leaf, table with INITIAL rows copied to the subscriber.
      await prov.pool.query(`CREATE TABLE accounts ${TABLE}`);
      await prov.pool.query(`INSERT INTO accounts ${ROW('1', String(INITIAL))}`);
      await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
      await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });
      await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'accounts', create: true });
      ctx.log(`apply: initial copy of ${INITIAL.toLocaleString('en-US')} rows ...`);
      let w = worker().start();
      await waitFor('the initial copy', 300_000, async () => (await listTables(sub.pool, 'leaf1')).every((t) => t.state === 'ok'));
      const startTick = await forceTick(prov.pool, 'repl');
      await waitForAppliedTick(sub, startTick);
      await w.stop();
      await sub.pool.query('CREATE TABLE accounts_before AS SELECT * FROM accounts');

      // The changes (not timed): three statements, three transactions, a tick after each.
      ctx.log(`apply: capturing ${CHANGES.toLocaleString('en-US')} changes ...`);
      await prov.pool.query(`INSERT INTO accounts ${ROW(String(INITIAL + 1), String(INITIAL + INSERTS))}`);
      await forceTick(prov.pool, 'repl');
      await prov.pool.query(`UPDATE accounts SET qty = qty + 1, note = 'updated' WHERE id <= ${UPDATES}`);
      await forceTick(prov.pool, 'repl');
      await prov.pool.query(`DELETE FROM accounts WHERE id > ${UPDATES} AND id <= ${INITIAL}`);
      const endTick = await forceTick(prov.pool, 'repl');
      const { rows: cnt } = await prov.pool.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM pgferry.event WHERE ev_extra1 IS NOT NULL`,
      );
      ctx.log(`apply: ${cnt[0]!.n} events in the queue`);

      const copyRows = async () => {
        await sub.pool.query(`DROP TABLE IF EXISTS accounts_copy`);
        await sub.pool.query(`CREATE TABLE accounts_copy ${TABLE}`);
        await sub.settle();
        const client = await sub.connect();
        try {
          return await sub.rateWithCpu(CHANGES, async () => {
            const stream = client.query(copyFrom('COPY accounts_copy FROM STDIN'));
            await pipeline(Readable.from(copyLines(CHANGES)), stream);
          }, [prov]);
        } finally {
          await client.end();
        }
      };

      const applyOnce = async () => {
        // Back to the state before the changes (not timed).
        await sub.pool.query('BEGIN');
        await sub.pool.query('TRUNCATE accounts');
        await sub.pool.query('INSERT INTO accounts SELECT * FROM accounts_before');
        await sub.pool.query(`UPDATE pgferry.applied_tick SET at_tick_id = $1 WHERE at_subscription = 'leaf1'`, [startTick]);
        await sub.pool.query('COMMIT');
        await registerConsumerAt(prov.pool, 'repl', 'leaf1', startTick);
        await sub.settle();
        await prov.settle();
        const t = await sub.rateWithCpu(
          CHANGES,
          async () => {
            w = worker().start();
            await waitForAppliedTick(sub, endTick);
          },
          [prov],
        );
        await w.stop();
        const { rows } = await sub.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM accounts');
        const expected = INITIAL + INSERTS - DELETES;
        if (Number(rows[0]!.n) !== expected) throw new Error(`subscriber has ${rows[0]!.n} rows, expected ${expected}`);
        return t;
      };

      const sampler = new WaitSampler([
        { label: 'provider', url: prov.url },
        { label: 'subscriber', url: sub.url },
      ]);
      let waits: Record<string, number> = {};
      const p = await pairedRates(ctx, 'apply', ctx.runs, copyRows, {
        apply: async () => {
          // Sample the first run only: where the time goes (sessions' states and waits).
          const sample = Object.keys(waits).length === 0;
          if (sample) await sampler.start();
          try {
            return await applyOnce();
          } finally {
            if (sample) waits = await sampler.stop();
          }
        },
      });
      ctx.log(`apply: session states during apply: ${WaitSampler.format(waits)}`);
      return [
        ratioRow('apply', 'apply', p, 0.35, 'changes/s', {
          scale: CHANGES,
          notes: [
            `${INSERTS} inserts + ${UPDATES} updates + ${DELETES} deletes on distinct keys (nothing coalesces), 3 source transactions/ticks; ReplicationWorker defaults (fetchSize 2000, ticker 100 ms); timed from worker start to the last tick recorded in the subscriber`,
            `baseline: COPY accounts_copy FROM STDIN (pg-copy-streams) of ${CHANGES} rows into an empty table of the same definition (PK) on the subscriber`,
            'CPU time counts this process and both servers on both sides',
            `sessions during one apply run (share of 10 ms samples; "CPU" = running, ClientRead = waiting for Node): ${WaitSampler.format(waits)}`,
          ],
        }),
      ];
    } finally {
      await prov.drop().catch(() => undefined);
      await sub.drop().catch(() => undefined);
    }
  },
};

async function waitForAppliedTick(sub: BenchDatabase, tick: string): Promise<void> {
  await waitFor(`applied tick ${tick}`, 600_000, async () => {
    const { rows } = await sub.pool.query<{ t: string | null }>(
      `SELECT at_tick_id::text AS t FROM pgferry.applied_tick WHERE at_subscription = 'leaf1'`,
    );
    const t = rows[0]?.t;
    return t ? BigInt(t) >= BigInt(tick) : false;
  });
}

/** COPY text lines for rows 1..n, the same shape as the replicated rows. */
function* copyLines(n: number): Generator<string> {
  const chunk: string[] = [];
  for (let g = 1; g <= n; g++) {
    chunk.push(`${g}\tcust-${(g * 7919) % 100000}\tSKU-${(g * 104729) % 1000000}\t${(g % 9) + 1}\t${(((g * 37) % 100000) / 100).toFixed(2)}\tbenchmark payload\n`);
    if (chunk.length === 10_000) {
      yield chunk.join('');
      chunk.length = 0;
    }
  }
  if (chunk.length) yield chunk.join('');
}
