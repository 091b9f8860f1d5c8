/**
 * switchover: the root role moved to a branch on another server while writers commit
 * single-row transactions as fast as they can (they follow the root: a refused write is
 * tried again on whichever node is the root then). Measured: the write pause the writers
 * see (the longest time without a commit, across the switchover) and the one switchover
 * reports (old root closed to writes -> new root open), against the longest time without a
 * commit in the same load just before (the baseline: what the load itself shows). Runs
 * alternate the direction (root -> branch, then back). Target: a pause of seconds, ≤ 5 s.
 */
import pg from 'pg';
import { ReplicationWorker, addTable, createBranchNode, createRootNode, listTables, switchover } from '@pgferry/replicator';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { median, nowMs } from '../lib/stats.js';

const LOAD_MS = Number(process.env.BENCH_SWITCHOVER_LOAD_MS ?? 3000);
const WRITERS = 4;
const TARGET_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const switchoverCase: BenchCase = {
  name: 'switchover',
  summary: `write pause of a switchover (root -> branch and back) under ${WRITERS} writers, vs the longest commit gap of the same load`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const a = await (await ctx.server()).database('switchover_a', { install: false });
    const b = await (await ctx.secondServer()).database('switchover_b', { install: false });
    const worker = new ReplicationWorker({
      subscriptions: [
        { subscription: 'a', subscriber: a.url, pollIntervalMs: 20 },
        { subscription: 'b', subscriber: b.url, pollIntervalMs: 20 },
      ],
      tickIntervalMs: 20,
    });
    let stop = false;
    const writers: Promise<void>[] = [];
    try {
      await a.pool.query(`CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2) NOT NULL)`);
      await createRootNode(a.pool, { node: 'a', queue: 'repl' });
      await createBranchNode(a.pool, b.pool, { node: 'b', providerLocation: a.url, location: b.url });
      await addTable(a.pool, b.pool, { subscription: 'b', table: 'orders', create: true });
      worker.start();
      while (!(await listTables(b.pool, 'b')).every((t) => t.state === 'ok')) await sleep(50);

      // Writers on whichever node is the root (a refused write goes to the other one next).
      let root = a;
      const commits: number[] = [];
      let nextId = 0;
      let refused = 0;
      const writer = async () => {
        const clients = new Map<string, pg.Client>();
        const client = async (db: typeof a) => {
          let c = clients.get(db.url);
          if (!c) clients.set(db.url, (c = await db.connect()));
          return c;
        };
        while (!stop) {
          const db = root;
          try {
            await (await client(db)).query(`INSERT INTO orders VALUES ($1, 'c', 1.5)`, [++nextId]);
            commits.push(nowMs());
          } catch {
            refused++;
            await sleep(1);
          }
        }
        await Promise.all([...clients.values()].map((c) => c.end()));
      };
      for (let i = 0; i < WRITERS; i++) writers.push(writer());
      const maxGap = (from: number, to: number) => {
        const ts = commits.filter((t) => t >= from && t <= to).sort((x, y) => x - y);
        let gap = 0;
        for (let i = 1; i < ts.length; i++) gap = Math.max(gap, ts[i]! - ts[i - 1]!);
        return gap;
      };

      const perRun: { direction: string; reportedMs: number; seenMs: number; baselineGapMs: number; refused: number }[] = [];
      for (let run = 0; run < ctx.runs; run++) {
        const [from, to] = root === a ? [a, b] : [b, a];
        const t0 = nowMs();
        await sleep(LOAD_MS);
        const t1 = nowMs();
        const refusedBefore = refused;
        const r = await switchover(from.pool, to.pool, { oldRootLocation: from.url, newRootLocation: to.url });
        root = to;
        await sleep(LOAD_MS);
        perRun.push({
          direction: `${r.oldRoot} -> ${r.newRoot}`,
          reportedMs: r.writePauseMs,
          seenMs: maxGap(t1 - 1000, nowMs()),
          baselineGapMs: maxGap(t0, t1),
          refused: refused - refusedBefore,
        });
        ctx.log(`switchover ${r.oldRoot} -> ${r.newRoot}: pause ${r.writePauseMs} ms reported, ${perRun.at(-1)!.seenMs.toFixed(0)} ms seen by the writers`);
      }
      const seen = median(perRun.map((r) => r.seenMs));
      const base = median(perRun.map((r) => r.baselineGapMs));
      return [
        {
          case: 'switchover',
          status: 'measured',
          unit: 'ms',
          rate: seen,
          baseline: base,
          ratio: seen / base,
          rateText: `${(seen / 1000).toFixed(2)} s pause`,
          baselineText: `${base.toFixed(0)} ms longest gap`,
          ratioText: `${(seen / base).toFixed(1)}×`,
          target: `pause ≤ ${TARGET_MS / 1000} s`,
          met: seen <= TARGET_MS,
          runs: perRun.length,
          notes: [
            `the pause the writers saw (longest time without a commit across the switchover), median of ${perRun.length}; switchover() reported ${median(perRun.map((r) => r.reportedMs)).toFixed(0)} ms (old root closed -> new root open)`,
            'worker poll 20 ms, ticker 20 ms (both nodes in one worker process)',
          ],
          detail: { perRun, writers: WRITERS, commits: commits.length },
        },
      ];
    } finally {
      stop = true;
      await Promise.all(writers);
      await worker.stop();
      await a.drop().catch(() => undefined);
      await b.drop().catch(() => undefined);
    }
  },
};
