/**
 * copy: the initial copy of a 1,000,000-row table from one server to another by the
 * replicator (resync, then until the table leaves in-copy), chunked (resumable: chunks by
 * bytes, 128 MiB by default and 16 MiB, and of 100k rows) and in one transaction, against a plain
 * `COPY accounts TO STDOUT | COPY accounts FROM STDIN` pipe between the same two servers in
 * one transaction (what a native initial sync does; logical replication itself needs
 * wal_level=logical, not a default). Target ≥ 0.80×.
 */
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, listTables, resyncTable } from '@pgferry/replicator';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import { nowMs } from '../lib/stats.js';

const ROWS = Number(process.env.BENCH_COPY_ROWS ?? 1_000_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The worker's copy options of each measured variant. */
const VARIANTS: Record<string, { copyChunkRows?: number; copyChunkBytes?: number }> = {
  'chunked, 128 MiB chunks (default)': {},
  'chunked, 16 MiB chunks': { copyChunkBytes: 16 * 1024 * 1024 },
  'chunked, 100k-row chunks': { copyChunkRows: 100_000 },
  'one transaction': { copyChunkRows: 0 },
};

export const copy: BenchCase = {
  name: 'copy',
  summary: `initial copy of a ${ROWS.toLocaleString('en-US')}-row table (chunked, one transaction) vs a COPY TO | COPY FROM pipe`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const prov = await (await ctx.server()).database('copy_provider', { install: false });
    const sub = await (await ctx.secondServer()).database('copy_subscriber', { install: false });
    let worker: ReplicationWorker | undefined;
    const state = async () => (await listTables(sub.pool, 'leaf1'))[0]?.state;
    const waitState = async (done: (s: string | undefined) => boolean) => {
      const deadline = nowMs() + 900_000;
      while (!done(await state())) {
        if (nowMs() > deadline) throw new Error('timed out waiting for the copy');
        await sleep(20);
      }
    };
    try {
      const table = `(id bigint PRIMARY KEY, customer text NOT NULL, qty int NOT NULL, amount numeric(10,2) NOT NULL, note text)`;
      await prov.pool.query(`CREATE TABLE accounts ${table}`);
      await prov.pool.query(
        `INSERT INTO accounts SELECT g, 'cust-' || ((g * 7919) % 100000), (g % 9)::int + 1, round(((g * 37) % 100000) / 100.0, 2), 'benchmark payload'
           FROM generate_series(1::bigint, ${ROWS}::bigint) g`,
      );
      await prov.pool.query('VACUUM ANALYZE accounts');
      await sub.pool.query(`CREATE TABLE accounts_pipe ${table}`);
      await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
      await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });
      await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'accounts', create: true });

      const pipe = () =>
        prov.rateWithCpu(
          ROWS,
          async () => {
            const pc = await prov.connect();
            const sc = await sub.connect();
            try {
              await sc.query('BEGIN');
              await sc.query('TRUNCATE accounts_pipe');
              await pipeline(pc.query(copyTo('COPY accounts TO STDOUT')), sc.query(copyFrom('COPY accounts_pipe FROM STDIN')));
              await sc.query('COMMIT');
            } finally {
              await Promise.all([pc.end(), sc.end()]);
            }
          },
          [sub],
        );
      const replicatorCopy = (options: (typeof VARIANTS)[string]) => async () => {
        await worker?.stop();
        worker = new ReplicationWorker({
          subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20, ...options }],
        }).start();
        await waitState((s) => s === 'ok');
        await Promise.all([prov.settle(), sub.settle()]);
        return prov.rateWithCpu(
          ROWS,
          async () => {
            await resyncTable(sub.pool, { subscription: 'leaf1', table: 'accounts' });
            await waitState((s) => s !== 'in-copy');
          },
          [sub],
        );
      };
      const measured = Object.fromEntries(Object.entries(VARIANTS).map(([k, options]) => [k, replicatorCopy(options)]));
      const p = await pairedRates(ctx, 'copy', ctx.runs, async () => {
        await Promise.all([prov.settle(), sub.settle()]);
        return pipe();
      }, measured);
      return Object.keys(VARIANTS).map((k) =>
        ratioRow(`copy (${k})`, k, p, 0.8, 'rows/s', {
          scale: ROWS,
          notes: [
            'replicator: resync, then until the table leaves in-copy (its worker polls every 20 ms); includes emptying the table',
            'baseline: COPY accounts TO STDOUT piped into COPY accounts_pipe FROM STDIN (emptied first) in one transaction, same two servers',
            'CPU time counts this process and both servers',
          ],
        }),
      );
    } finally {
      await worker?.stop().catch(() => undefined);
      await prov.drop().catch(() => undefined);
      await sub.drop().catch(() => undefined);
    }
  },
};
