/**
 * The case registry's contract, paired baseline/measured runs (median of N), and the
 * output: a table on stdout and the same rows as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchServer } from './server.js';
import { median } from './stats.js';

export interface BenchContext {
  /** Runs per case (medians are over these). */
  runs: number;
  /** The run's shared server (started on first use). */
  server(): Promise<BenchServer>;
  /** A second server, for cases that need a subscriber (started on first use). */
  secondServer(): Promise<BenchServer>;
  log(message: string): void;
}

export type Status = 'measured' | 'not available' | 'failed';

/** One line of the table (a case may report several variants). */
export interface ResultRow {
  case: string;
  status: Status;
  /** What "rate" is: 'events/s', 'rows/s', 'ms', 'MB'. */
  unit: string;
  rate: number | null;
  baseline: number | null;
  ratio: number | null;
  /** Display text for rate/baseline/ratio when a plain number does not say it (latency, memory). */
  rateText?: string;
  baselineText?: string;
  ratioText?: string;
  target: string;
  met: boolean | null;
  runs: number;
  /** Rows/events per run (the issue asks for 1,000,000 where it names a count). */
  scale?: number;
  notes: string[];
  /** Raw figures per run and anything else worth keeping in the JSON. */
  detail: Record<string, unknown>;
}

export interface BenchCase {
  name: string;
  /** One line: what is measured against what. */
  summary: string;
  run(ctx: BenchContext): Promise<ResultRow[]>;
}

export function notAvailable(name: string, target: string, why: string): ResultRow {
  return {
    case: name,
    status: 'not available',
    unit: '',
    rate: null,
    baseline: null,
    ratio: null,
    target,
    met: null,
    runs: 0,
    notes: [why],
    detail: {},
  };
}

/** What a measured function returns: a rate, or a rate with CPU time per operation. */
export type Sample = number | { rate: number; cpuUsPerOp: number };
const rateOf = (x: Sample) => (typeof x === 'number' ? x : x.rate);
const cpuOf = (x: Sample) => (typeof x === 'number' ? undefined : x.cpuUsPerOp);

export interface PairedRates {
  /** Median over runs of each variant's rate. */
  rates: Record<string, number>;
  baseline: number;
  /** Median over runs of measured/baseline of the same run (robust to drift on a noisy host). */
  ratios: Record<string, number>;
  perRun: { baseline: number; measured: Record<string, number>; cpuUsPerOp?: Record<string, number> }[];
  /** Median over runs of baseline CPU per operation / measured CPU per operation, when measured. */
  cpuRatios?: Record<string, number>;
}

/**
 * Run `baseline` and every measured variant `runs` times, alternating the order between
 * runs (baseline first, then last) so that a slow phase of the machine hits both sides.
 * Each function returns a rate (higher is better).
 */
export async function pairedRates(
  ctx: BenchContext,
  label: string,
  runs: number,
  baseline: () => Promise<Sample>,
  measured: Record<string, () => Promise<Sample>>,
): Promise<PairedRates> {
  const perRun: PairedRates['perRun'] = [];
  for (let i = 0; i < runs; i++) {
    const m: Record<string, number> = {};
    const cpu: Record<string, number> = {};
    let b = Number.NaN;
    const cpuText = (x: Sample) => (cpuOf(x) === undefined ? '' : ` (${cpuOf(x)!.toFixed(2)} µs CPU/op)`);
    const doBaseline = async () => {
      const x = await baseline();
      b = rateOf(x);
      if (cpuOf(x) !== undefined) cpu['\0baseline'] = cpuOf(x)!;
      ctx.log(`${label} run ${i + 1}/${runs}: baseline ${fmtRate(b)}${cpuText(x)}`);
    };
    const doMeasured = async () => {
      for (const [k, fn] of Object.entries(measured)) {
        const x = await fn();
        m[k] = rateOf(x);
        if (cpuOf(x) !== undefined) cpu[k] = cpuOf(x)!;
        ctx.log(`${label} run ${i + 1}/${runs}: ${k} ${fmtRate(m[k]!)}${cpuText(x)}`);
      }
    };
    if (i % 2 === 0) {
      await doBaseline();
      await doMeasured();
    } else {
      await doMeasured();
      await doBaseline();
    }
    perRun.push({ baseline: b, measured: m, ...(Object.keys(cpu).length ? { cpuUsPerOp: cpu } : {}) });
  }
  const rates: Record<string, number> = {};
  const ratios: Record<string, number> = {};
  const cpuRatios: Record<string, number> = {};
  for (const k of Object.keys(measured)) {
    rates[k] = median(perRun.map((r) => r.measured[k]!));
    ratios[k] = median(perRun.map((r) => r.measured[k]! / r.baseline));
    if (perRun.every((r) => r.cpuUsPerOp?.[k] !== undefined && r.cpuUsPerOp['\0baseline'] !== undefined)) {
      cpuRatios[k] = median(perRun.map((r) => r.cpuUsPerOp!['\0baseline']! / r.cpuUsPerOp![k]!));
    }
  }
  return {
    rates,
    baseline: median(perRun.map((r) => r.baseline)),
    ratios,
    perRun,
    ...(Object.keys(cpuRatios).length ? { cpuRatios } : {}),
  };
}

/**
 * For operations of a millisecond or less (one transaction each): the sides take turns in
 * short slices (`sliceMs`) until each has run `msPerSide`, so that the noise of a shared
 * machine falls on all sides alike; `runs` such runs, `beforeRun` (e.g. CHECKPOINT) before
 * each. Each side's function is one operation; its rate is operations per second.
 */
export async function interleavedRates(
  ctx: BenchContext,
  label: string,
  options: { runs: number; sliceMs: number; msPerSide: number; beforeRun?: () => Promise<void> },
  baseline: () => Promise<unknown>,
  measured: Record<string, () => Promise<unknown>>,
): Promise<PairedRates> {
  const sides: [string, () => Promise<unknown>][] = [['\0baseline', baseline], ...Object.entries(measured)];
  const perRun: PairedRates['perRun'] = [];
  for (let r = 0; r < options.runs; r++) {
    await options.beforeRun?.();
    const count = new Map<string, number>(sides.map(([k]) => [k, 0]));
    const spent = new Map<string, number>(sides.map(([k]) => [k, 0]));
    for (let round = 0; spent.get('\0baseline')! < options.msPerSide; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const [k, fn] of order) {
        const t0 = performance.now();
        let n = 0;
        while (performance.now() - t0 < options.sliceMs) {
          await fn();
          n++;
        }
        count.set(k, count.get(k)! + n);
        spent.set(k, spent.get(k)! + performance.now() - t0);
      }
    }
    const rate = (k: string) => count.get(k)! / (spent.get(k)! / 1000);
    const m = Object.fromEntries(Object.keys(measured).map((k) => [k, rate(k)]));
    perRun.push({ baseline: rate('\0baseline'), measured: m });
    ctx.log(`${label} run ${r + 1}/${options.runs}: baseline ${fmtRate(rate('\0baseline'))}, ${Object.entries(m).map(([k, v]) => `${k} ${fmtRate(v)}`).join(', ')}`);
  }
  const rates: Record<string, number> = {};
  const ratios: Record<string, number> = {};
  for (const k of Object.keys(measured)) {
    rates[k] = median(perRun.map((x) => x.measured[k]!));
    ratios[k] = median(perRun.map((x) => x.measured[k]! / x.baseline));
  }
  return { rates, baseline: median(perRun.map((x) => x.baseline)), ratios, perRun };
}

/** A row for a "ratio ≥ target" case from paired rates. */
export function ratioRow(
  name: string,
  variant: string,
  p: PairedRates,
  minRatio: number,
  unit: string,
  extra: Partial<ResultRow> = {},
): ResultRow {
  const ratio = p.ratios[variant]!;
  const cpuRatio = p.cpuRatios?.[variant];
  const notes = [
    ...(cpuRatio !== undefined
      ? [`CPU-time ratio (baseline CPU per op / measured CPU per op, this process + all server processes; less sensitive to other load): ${cpuRatio.toFixed(2)}×`]
      : []),
    ...(extra.notes ?? []),
  ];
  return {
    case: name,
    status: 'measured',
    unit,
    rate: p.rates[variant]!,
    baseline: p.baseline,
    ratio,
    target: `≥ ${minRatio.toFixed(2)}×`,
    met: ratio >= minRatio,
    runs: p.perRun.length,
    ...extra,
    notes,
    detail: {
      perRun: p.perRun.map((r) => ({
        baseline: r.baseline,
        measured: r.measured[variant],
        ratio: r.measured[variant]! / r.baseline,
        ...(r.cpuUsPerOp ? { cpuUsPerOpBaseline: r.cpuUsPerOp['\0baseline'], cpuUsPerOp: r.cpuUsPerOp[variant] } : {}),
      })),
      ...(cpuRatio !== undefined ? { cpuRatio } : {}),
      ...extra.detail,
    },
  };
}

export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(3);
}

function cell(row: ResultRow, which: 'rate' | 'baseline' | 'ratio'): string {
  if (row.status !== 'measured') return which === 'rate' ? row.status : '-';
  const text = which === 'rate' ? row.rateText : which === 'baseline' ? row.baselineText : row.ratioText;
  if (text !== undefined) return text;
  const v = row[which];
  if (v === null) return '-';
  if (which === 'ratio') return `${v.toFixed(2)}×`;
  return `${fmtRate(v)} ${row.unit}`;
}

function metCell(row: ResultRow): string {
  if (row.status === 'not available') return 'not available yet';
  if (row.status === 'failed') return 'FAILED';
  if (row.met === null) return '-';
  return row.met ? 'met' : 'not met';
}

export function formatTable(rows: readonly ResultRow[]): string {
  const header = ['case', 'rate', 'baseline rate', 'ratio', 'target', 'met?'];
  const body = rows.map((r) => [r.case, cell(r, 'rate'), cell(r, 'baseline'), cell(r, 'ratio'), r.target, metCell(r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => `| ${cols.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  const notes = rows.flatMap((r) => r.notes.map((n) => `  ${r.case}: ${n}`));
  if (notes.length) out.push('', 'notes:', ...notes);
  return out.join('\n');
}

export async function writeJson(file: string, data: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
}
