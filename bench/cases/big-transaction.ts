/**
 * big-transaction: one provider transaction of 10,000,000 inserted rows
 * (`BENCH_BIG_ROWS`) replicated by a real `pgferry replicate worker` process, as a user runs
 * it, to a subscriber on a second server, both with default settings. Measured: the worker's
 * peak RSS (VmHWM from /proc, so the whole process: Node, tsx and the worker) against its
 * peak once started and idle, the time from the commit until every row is on the
 * subscriber, and that the worker got there without an error (one subscriber transaction of
 * that size must stay within what the server allows: its lock table, say). Target (issue
 * 14): peak RSS ≤ 300 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLeafNode, createRootNode, addTable, listTables } from '@pgferry/replicator';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { nowMs } from '../lib/stats.js';
import { ROW, TABLE, waitFor } from './apply.js';

const ROWS = Number(process.env.BENCH_BIG_ROWS ?? 10_000_000);
const LIMIT_MB = 300;
const CLI = path.resolve('packages/cli/bin/pgferry.mjs');

/** A process's peak resident set (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kb[1]) / 1024;
}

export const bigTransaction: BenchCase = {
  name: 'big-transaction',
  summary: `one provider transaction of ${ROWS.toLocaleString('en-US')} inserted rows through a worker process: its peak RSS, the time to the subscriber`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const prov = await (await ctx.server()).database('big_provider', { install: false });
    const sub = await (await ctx.secondServer()).database('big_subscriber', { install: false });
    let worker: ChildProcess | undefined;
    let log = '';
    try {
      await prov.pool.query(`CREATE TABLE accounts ${TABLE}`);
      await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
      await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });
      await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: 'accounts', create: true });
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^PG/.test(k)));
      const child = spawn(process.execPath, [CLI, 'replicate', 'worker', '--provider', prov.url, '--subscriber', sub.url, '--node', 'leaf1'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      worker = child;
      child.stdout!.on('data', (d) => (log += d));
      child.stderr!.on('data', (d) => (log += d));
      await waitFor('the (empty) initial copy', 120_000, async () => (await listTables(sub.pool, 'leaf1')).every((t) => t.state === 'ok'));
      await new Promise((r) => setTimeout(r, 2000));
      const idleMb = peakRssMb(child.pid!);

      ctx.log(`big-transaction: inserting ${ROWS.toLocaleString('en-US')} rows in one transaction ...`);
      const t0 = nowMs();
      await prov.pool.query(`INSERT INTO accounts ${ROW('1', String(ROWS))}`);
      const committed = nowMs();
      ctx.log(`big-transaction: committed in ${((committed - t0) / 1000).toFixed(1)} s; waiting for the subscriber ...`);
      let errors = '';
      await waitFor('every row on the subscriber', 3_600_000, async () => {
        if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}):\n${log.slice(-3000)}`);
        errors = log.split('\n').filter((l) => /\bERROR\b/.test(l)).slice(-3).join('\n');
        return (await sub.pool.query('SELECT 1 FROM accounts WHERE id = $1', [ROWS])).rowCount === 1;
      });
      const visible = nowMs();
      const peakMb = peakRssMb(child.pid!);
      const count = Number((await sub.pool.query<{ n: string }>('SELECT count(*) AS n FROM accounts')).rows[0]!.n);
      if (count !== ROWS) throw new Error(`the subscriber has ${count} rows, not ${ROWS}`);
      const seconds = (visible - committed) / 1000;
      ctx.log(`big-transaction: on the subscriber ${seconds.toFixed(1)} s after the commit; worker peak RSS ${peakMb.toFixed(1)} MB (idle ${idleMb.toFixed(1)} MB)`);
      return [
        {
          case: 'big-transaction',
          status: 'measured',
          unit: 'MB',
          rate: peakMb,
          baseline: idleMb,
          ratio: null,
          rateText: `${peakMb.toFixed(1)} MB peak RSS`,
          baselineText: `${idleMb.toFixed(1)} MB (worker started, idle)`,
          ratioText: '-',
          target: `≤ ${LIMIT_MB} MB`,
          met: peakMb <= LIMIT_MB && errors === '',
          runs: 1,
          scale: ROWS,
          notes: [
            `one INSERT ... SELECT of ${ROWS.toLocaleString('en-US')} rows (apply.ts's table) on the provider: ${((committed - t0) / 1000).toFixed(1)} s with capture; commit -> every row on the subscriber ${seconds.toFixed(1)} s (${Math.round(ROWS / seconds).toLocaleString('en-US')} rows/s), one subscriber transaction`,
            'worker: `pgferry replicate worker --provider --subscriber --node` as a child process, every default; peak RSS = VmHWM of its /proc status (Node, tsx and the worker)',
            errors ? `worker errors on the way: ${errors}` : 'no worker error on the way',
          ],
          detail: { rows: ROWS, insertMs: committed - t0, applyMs: visible - committed, peakMb, idleMb, errors },
        },
      ];
    } finally {
      if (worker && worker.exitCode === null) {
        worker.kill('SIGTERM');
        await new Promise((r) => worker!.once('exit', r));
      }
      await prov.drop();
      await sub.drop();
    }
  },
};
