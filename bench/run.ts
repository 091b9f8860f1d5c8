/**
 * `pnpm bench [case ...] [--runs N]`: runs the benchmark cases one after another on an
 * embedded PostgreSQL with default settings, prints a table of ratios against baselines
 * measured in the same run, and writes the same rows to bench/results/latest.json.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { BenchServer } from './lib/server.js';
import { formatTable, writeJson, type BenchCase, type BenchContext, type ResultRow } from './lib/runner.js';
import { CASES } from './cases/index.js';

const RESULTS = fileURLToPath(new URL('./results/latest.json', import.meta.url));

function parseArgs(argv: string[]): { names: string[]; runs: number } {
  const names: string[] = [];
  let runs = Number(process.env.BENCH_RUNS ?? 3);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    if (a === '--runs') runs = Number(argv[++i]);
    else if (a.startsWith('--runs=')) runs = Number(a.slice(7));
    else names.push(a);
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
  return { names, runs };
}

async function main(): Promise<number> {
  const { names, runs } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown case(s): ${unknown.join(', ')}\nknown: ${CASES.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  const selected: BenchCase[] = names.length ? CASES.filter((c) => names.includes(c.name)) : CASES;
  const started = Date.now();
  const log = (m: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}\n`);

  let primary: Promise<BenchServer> | undefined;
  let second: Promise<BenchServer> | undefined;
  const ctx: BenchContext = {
    runs,
    server: () => (primary ??= BenchServer.start('pgferry-bench')),
    secondServer: () => (second ??= BenchServer.start('pgferry-bench-sub')),
    log,
  };

  const rows: ResultRow[] = [];
  try {
    for (const c of selected) {
      log(`== ${c.name}: ${c.summary}`);
      const t0 = Date.now();
      try {
        rows.push(...(await c.run(ctx)));
      } catch (err) {
        log(`${c.name} failed: ${(err as Error).stack ?? String(err)}`);
        rows.push({
          case: c.name,
          status: 'failed',
          unit: '',
          rate: null,
          baseline: null,
          ratio: null,
          target: '',
          met: null,
          runs: 0,
          notes: [`failed: ${(err as Error).message}`],
          detail: {},
        });
      }
      log(`== ${c.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const server = primary ? await primary : undefined;
    const settings = server ? await server.settings() : {};
    const table = formatTable(rows);
    process.stdout.write(`\n${table}\n\n`);
    const settingsLine = Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    process.stdout.write(`server (defaults, nothing overridden): ${settingsLine}\n`);
    process.stdout.write(`runs per case: ${runs} (rates are medians; ratio = median of per-run measured/baseline)\n`);
    await writeJson(RESULTS, {
      date: new Date().toISOString(),
      durationSeconds: (Date.now() - started) / 1000,
      runsPerCase: runs,
      ratioDefinition: 'median over runs of (measured rate / baseline rate of the same run); baseline and measured alternate order between runs',
      host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, totalMemMB: Math.round(os.totalmem() / 2 ** 20), node: process.version, platform: `${process.platform}-${process.arch}` },
      server: { settings, overridden: {} },
      cases: rows,
    });
    process.stdout.write(`written: ${RESULTS}\n`);
    return rows.some((r) => r.status === 'failed') ? 1 : 0;
  } finally {
    for (const s of [primary, second]) {
      if (s) await (await s.catch(() => undefined))?.destroy();
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
