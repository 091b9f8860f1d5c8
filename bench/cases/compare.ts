/**
 * compare: an online compare of a replicated table of 1,000,000 rows (compareTable, public
 * API of @pgferry/replicator: a tick at a provider reader's snapshot, the subscriber paused
 * there, both sides hashed server-side in key ranges at once, equal so nothing to drill into)
 * against a plain full-table hash of the same table on one side, with the same row hash
 * compare uses (`SELECT sum(hashtextextended(row text, 0)) FROM t` on the provider, one
 * backend: no parallel workers), the lower bound of any compare that reads every row.
 * Target ≥ 0.5×.
 *
 * The baseline runs without parallel workers because provider and subscriber are separate
 * machines in production, each hashing its side with its own cores; here both servers share
 * two cores, so a parallel baseline would take the cores compare needs for the other side.
 */
import { ReplicationWorker, addTable, compareTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import { nowMs } from '../lib/stats.js';

const ROWS = Number(process.env.BENCH_COMPARE_ROWS ?? 1_000_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const compare: BenchCase = {
  name: 'compare',
  summary: `online compare of a replicated ${ROWS.toLocaleString('en-US')}-row table vs a plain full-table hash on one side`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const prov = await (await ctx.server()).database('compare_provider', { install: false });
    const sub = await (await ctx.secondServer()).database('compare_subscriber', { install: false });
    const worker = new ReplicationWorker({ subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url }] });
    try {
      await prov.pool.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, customer text NOT NULL, qty int NOT NULL, amount numeric(10,2) NOT NULL, note text)`);
      await prov.pool.query(
        `INSERT INTO accounts SELECT g, 'cust-' || ((g * 7919) % 100000), (g % 9)::int + 1, round(((g * 37) % 100000) / 100.0, 2), 'benchmark payload'
           FROM generate_series(1::bigint, ${ROWS}::bigint) g`,
      );
      await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
      await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });
      await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'accounts', create: true });
      worker.start();
      ctx.log(`compare: initial copy of ${ROWS.toLocaleString('en-US')} rows ...`);
      const deadline = nowMs() + 600_000;
      while (!(await listTables(sub.pool, 'leaf1')).every((t) => t.state === 'ok')) {
        if (nowMs() > deadline) throw new Error('timed out waiting for the initial copy');
        await sleep(100);
      }
      await Promise.all([prov.pool.query('VACUUM ANALYZE accounts'), sub.pool.query('VACUUM ANALYZE accounts')]);

      const plainHash = () =>
        prov.rateWithCpu(ROWS, () =>
          prov.pool.query(
            `BEGIN; SET LOCAL max_parallel_workers_per_gather = 0;
             SELECT pg_catalog.sum(pg_catalog.hashtextextended(ROW(id, customer, qty, amount, note)::text COLLATE "C", 0)) FROM accounts;
             COMMIT`,
          ),
        );
      const compareOnce = async () => {
        let equal = false;
        const t = await prov.rateWithCpu(
          ROWS,
          async () => {
            equal = (await compareTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'accounts' })).equal;
          },
          [sub],
        );
        if (!equal) throw new Error('compare found the replicated table different');
        return t;
      };
      const p = await pairedRates(ctx, 'compare', ctx.runs, plainHash, { compare: compareOnce });
      return [
        ratioRow('compare', 'compare', p, 0.5, 'rows/s', {
          scale: ROWS,
          notes: [
            'compareTable with the worker running: pause at a tick made at a provider reader\'s snapshot, wait for the subscriber, hash 4096 key ranges on both servers at once (the provider\'s while the subscriber reaches the tick)',
            'baseline: one plain full-table hash on the provider with the same row hash (sum of hashtextextended of each row\'s text), one backend (no parallel workers)',
            'CPU time counts this process and both servers',
          ],
        }),
      ];
    } finally {
      await worker.stop().catch(() => undefined);
      await prov.drop().catch(() => undefined);
      await sub.drop().catch(() => undefined);
    }
  },
};
