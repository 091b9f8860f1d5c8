/**
 * memory: peak RSS of a child process whose Consumer processes one batch of 1,000,000
 * events (streamed through the batch cursor, fetchSize 1000). For context, the peak RSS
 * of the same child that only loads the modules and connects is shown as "baseline".
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forceTick, registerConsumerAt } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { median } from '../lib/stats.js';
import { BULK_ROWS } from './produce-bulk.js';
import { fillQueue } from './consume.js';

const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
const LIMIT_MB = 150;

interface ChildReport {
  mode: string;
  events: number;
  batches: number;
  ms: number;
  maxRssKB: number;
}

/**
 * Compile the child to one plain JavaScript file, as a user would deploy it: the figure is
 * then the consumer's, not the TypeScript loader's (tsx alone adds ~40 MB). esbuild comes
 * with tsx, so it is resolved from there.
 */
async function buildChild(): Promise<{ file: string; dir: string }> {
  const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx'));
  const esbuild = fromTsx('esbuild') as {
    build(options: Record<string, unknown>): Promise<unknown>;
  };
  const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-bench-mem-'));
  const file = path.join(dir, 'memory-child.mjs');
  await esbuild.build({
    entryPoints: [CHILD],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    external: ['pg-native'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return { file, dir };
}

function runChild(file: string, args: string[]): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory child exited with ${code}: ${err.slice(-2000)}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport);
    });
  });
}

export const memory: BenchCase = {
  name: 'memory',
  summary: `peak RSS of a child process consuming one ${BULK_ROWS.toLocaleString('en-US')}-event batch`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('memory', { poolSize: 2 });
    try {
      ctx.log('memory: filling the queue (not timed) ...');
      const q = await fillQueue(db, 'q_mem', BULK_ROWS, BULK_ROWS);
      await forceTick(db.pool, q.queue);
      const built = await buildChild();
      const reports: ChildReport[] = [];
      const idle: ChildReport[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        await registerConsumerAt(db.pool, q.queue, 'bench', q.startTick);
        const rep = await runChild(built.file, ['consume', db.url, q.queue, 'bench', String(BULK_ROWS)]);
        if (rep.events !== BULK_ROWS) throw new Error(`child consumed ${rep.events} events, expected ${BULK_ROWS}`);
        reports.push(rep);
        idle.push(await runChild(built.file, ['idle', db.url, q.queue, 'bench', '0']));
        ctx.log(`memory run ${r + 1}/${ctx.runs}: peak RSS ${(rep.maxRssKB / 1024).toFixed(1)} MB (idle child ${(idle.at(-1)!.maxRssKB / 1024).toFixed(1)} MB), ${rep.batches} batch(es) in ${(rep.ms / 1000).toFixed(1)} s`);
      }
      await rm(built.dir, { recursive: true, force: true });
      const mb = median(reports.map((r) => r.maxRssKB)) / 1024;
      const idleMb = median(idle.map((r) => r.maxRssKB)) / 1024;
      return [
        {
          case: 'memory',
          status: 'measured',
          unit: 'MB',
          rate: mb,
          baseline: idleMb,
          ratio: null,
          rateText: `${mb.toFixed(1)} MB peak RSS`,
          baselineText: `${idleMb.toFixed(1)} MB (idle child)`,
          ratioText: '-',
          target: `≤ ${LIMIT_MB} MB`,
          met: mb <= LIMIT_MB,
          runs: reports.length,
          scale: BULK_ROWS,
          notes: [
            'child: plain node running the consumer compiled to one JS file (esbuild), no flags; Consumer.run over one batch, fetchSize 1000; peak RSS = process.resourceUsage().maxRSS',
          ],
          detail: { consume: reports, idle },
        },
      ];
    } finally {
      await db.drop();
    }
  },
};
