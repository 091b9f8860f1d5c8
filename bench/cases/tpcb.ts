/**
 * tpcb: pgbench's built-in TPC-B script (`pgbench -b tpcb-like`, Debian's client; a clear
 * error when it is not installed: BENCH_PGBENCH names another), scale 5 (BENCH_TPCB_SCALE),
 * 4 clients (BENCH_TPCB_CLIENTS), 30 s per run (BENCH_TPCB_SECONDS), a primary key added to
 * pgbench_history (`hid bigserial`), on the provider of two servers started with
 * wal_level = logical (lib/logical.ts). Three variants, each in its own database of the same
 * data, their order rotated between runs:
 * - baseline: no capture, nothing replicated;
 * - pgferry: the four tables captured (root node, add-table to a leaf on the second server),
 *   a ReplicationWorker with its defaults running;
 * - native: a publication of the four tables, a subscription on the second server.
 * tps ratio = variant / baseline of the same run (target for pgferry ≥ 0.85×).
 *
 * Data lag under load: every 100 ms the provider's newest history row (max(hid)), and every
 * 10 ms the subscriber's; a provider sample's lag is the time until the subscriber first
 * shows that row (or a newer one). Samples from 2 s into the run to its end; averaged
 * (target for pgferry ≤ 0.10 s). The probes run in the baseline too (against an idle
 * subscriber database), so that every variant carries them.
 *
 * Before each run, as pgbench does by default (its -n skips it here: it would also empty
 * pgbench_history, which the replicas would have to follow), pgbench_branches and
 * pgbench_tellers are vacuumed (provider and subscriber), then both servers checkpoint.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import type { BenchCase, BenchContext, PairedRates, ResultRow } from '../lib/runner.js';
import { fmtRate, ratioRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { CpuSplitMeter, serverProcessCpuMs } from '../lib/cpu.js';
import { FerryReplication, LogicalPair, ferrySettingsText, NativeReplication, pollUntil, settleBoth, type ReplicationSystem } from '../lib/logical.js';
import { median, nowMs, percentile } from '../lib/stats.js';
import { WaitSampler } from '../lib/waits.js';

const SCALE = Number(process.env.BENCH_TPCB_SCALE ?? 5);
const CLIENTS = Number(process.env.BENCH_TPCB_CLIENTS ?? 4);
const SECONDS = Number(process.env.BENCH_TPCB_SECONDS ?? 30);
const PGBENCH = process.env.BENCH_PGBENCH ?? '/usr/bin/pgbench';
const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'];
const PROVIDER_PROBE_MS = 100;
const SUBSCRIBER_PROBE_MS = 10;
const LAG_WARMUP_MS = 2000;
const REST_MS = 1000;
/** Diagnosis: sample the sessions of both databases (with their statements) in pgferry's runs; adds load. */
const SAMPLE = process.env.BENCH_TPCB_SAMPLE === '1';
/**
 * Diagnosis: both servers preload pg_stat_statements (track = all: trigger and function
 * bodies too; track_planning on); the runs without capture and pgferry's report the
 * statements of their databases by planning + execution time (BENCH_TPCB_STATEMENTS_TOP of
 * each, 20). The setup note names the settings.
 */
const STATEMENTS = process.env.BENCH_TPCB_STATEMENTS === '1';
const STATEMENT_SETTINGS: Record<string, string> = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'all',
  'pg_stat_statements.track_planning': 'on',
};
const STATEMENTS_TOP = Number(process.env.BENCH_TPCB_STATEMENTS_TOP ?? 20);
/**
 * Diagnosis: the provider's CPU split by process (pgbench's backends, pgferry's sessions by
 * application_name, the WAL writer, autovacuum, ...), per transaction; reads /proc only.
 */
const PROCESSES = process.env.BENCH_TPCB_PROCESSES === '1';

/**
 * The provider's CPU by kind of process while pgbench runs: every 500 ms each live process's
 * CPU (/proc) and its kind (pg_stat_activity's backend_type and application_name), so that
 * processes that end during the run (pgbench's backends at its end, autovacuum workers) are
 * counted up to their last reading; what no reading saw is "other".
 */
class ProcessCpuSampler {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, { ms: number; kind: string }>();
  private timer?: NodeJS.Timeout;
  private busy?: Promise<void>;
  constructor(
    private readonly db: BenchDatabase,
    private readonly dataDir: string,
  ) {}

  start(): void {
    for (const [pid, ms] of serverProcessCpuMs(this.dataDir)) this.first.set(pid, ms);
    this.timer = setInterval(() => void (this.busy ??= this.sample().finally(() => (this.busy = undefined))), 500);
  }

  private async sample(): Promise<void> {
    const { rows } = await this.db.pool.query<{ pid: number; kind: string }>(
      `SELECT pid, backend_type || CASE WHEN application_name <> '' THEN ' (' || application_name || ')' ELSE '' END AS kind FROM pg_stat_activity`,
    );
    const kinds = new Map(rows.map((r) => [r.pid, r.kind]));
    for (const [pid, ms] of serverProcessCpuMs(this.dataDir)) {
      const kind = kinds.get(pid) ?? this.last.get(pid)?.kind;
      if (kind) this.last.set(pid, { ms, kind });
    }
  }

  /** µs per transaction by kind, "other" the rest of the server's `totalMs`. */
  async stop(totalMs: number, transactions: number): Promise<Record<string, number>> {
    clearInterval(this.timer);
    await this.busy;
    const out: Record<string, number> = {};
    let counted = 0;
    for (const [pid, { ms, kind }] of this.last) {
      const used = ms - (this.first.get(pid) ?? 0);
      out[kind] = (out[kind] ?? 0) + used;
      counted += used;
    }
    out.other = totalMs - counted;
    return Object.fromEntries(
      Object.entries(out)
        .map(([k, ms]): [string, number] => [k, Math.round((ms * 1000) / transactions)])
        .filter(([, us]) => us !== 0)
        .sort((a, b) => b[1] - a[1]),
    );
  }
}

/** A database's statements by total planning + execution time since the last reset: ms (planning), calls, text. */
async function topStatements(db: BenchDatabase, limit: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ ms: number; plan: number; calls: string; q: string; toplevel: boolean }>(
    `SELECT round((s.total_exec_time + s.total_plan_time)::numeric, 0)::float8 AS ms, round(s.total_plan_time::numeric, 0)::float8 AS plan,
            s.calls::text AS calls, s.toplevel,
            left(regexp_replace(s.query, '[[:space:]]+', ' ', 'g'), 110) AS q
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database()
      ORDER BY s.total_exec_time + s.total_plan_time DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => `${r.ms} ms (planning ${r.plan}) / ${r.calls} calls${r.toplevel ? '' : ' (nested)'}: ${r.q}`);
}

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function checkPgbench(): void {
  try {
    accessSync(PGBENCH, constants.X_OK);
  } catch {
    throw new Error(
      `tpcb needs pgbench, not found at ${PGBENCH}: install PostgreSQL's client programs (Debian: apt-get install postgresql-client) or set BENCH_PGBENCH to its path`,
    );
  }
}

async function pgbench(db: BenchDatabase, args: string[]): Promise<string> {
  const { stdout } = await run(PGBENCH, [...args, db.url], { maxBuffer: 16 * 2 ** 20 });
  return stdout;
}

/** pgbench's tables at SCALE (`init` false: only the tables and keys, no rows), history with a key. */
async function initTables(db: BenchDatabase, init: boolean): Promise<void> {
  await pgbench(db, ['-i', '-q', '-s', String(SCALE), ...(init ? [] : ['-I', 'dtp'])]);
  await db.pool.query('ALTER TABLE "pgbench_history" ADD COLUMN "hid" bigserial PRIMARY KEY');
}

interface Lag {
  /** Seconds, over the provider samples of the load. */
  mean: number;
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/**
 * The newest history row on the provider every PROVIDER_PROBE_MS, on the subscriber every
 * SUBSCRIBER_PROBE_MS; stop() ends the provider's, then waits for the subscriber to show
 * the provider's last row and returns the lags (undefined without a subscriber to follow).
 */
class LagProbe {
  private provider: { t: number; hid: number }[] = [];
  private subscriber: { t: number; hid: number }[] = [];
  private probing = true;
  private following = true;
  private loops: Promise<void>[] = [];
  private clients: pg.Client[] = [];

  constructor(
    private readonly prov: BenchDatabase,
    private readonly sub: BenchDatabase,
  ) {}

  async start(): Promise<void> {
    const p = await this.prov.connect();
    const s = await this.sub.connect();
    this.clients = [p, s];
    const newest = async (c: pg.Client) =>
      Number((await c.query<{ h: string | null }>('SELECT max("hid")::text AS h FROM "pgbench_history"')).rows[0]!.h ?? 0);
    const loop = async (c: pg.Client, into: { t: number; hid: number }[], every: number, go: () => boolean) => {
      while (go()) {
        const t = nowMs();
        into.push({ t, hid: await newest(c) });
        await sleep(Math.max(0, every - (nowMs() - t)));
      }
    };
    this.loops = [
      loop(p, this.provider, PROVIDER_PROBE_MS, () => this.probing),
      loop(s, this.subscriber, SUBSCRIBER_PROBE_MS, () => this.following),
    ];
  }

  /** from: when the load began (nowMs); replicated: wait for the subscriber to follow. */
  async stop(from: number, to: number, replicated: boolean): Promise<Lag | undefined> {
    this.probing = false;
    await this.loops[0];
    const last = this.provider.at(-1)?.hid ?? 0;
    if (replicated) {
      await pollUntil('the subscriber to catch up after the load', 600_000, 20, async () => (this.subscriber.at(-1)?.hid ?? 0) >= last);
    }
    this.following = false;
    await this.loops[1];
    await Promise.all(this.clients.map((c) => c.end()));
    if (!replicated) return undefined;
    const lags: number[] = [];
    let j = 0;
    for (const x of this.provider) {
      if (x.t < from + LAG_WARMUP_MS || x.t > to) continue;
      while (j < this.subscriber.length && (this.subscriber[j]!.t < x.t || this.subscriber[j]!.hid < x.hid)) {
        // Subscriber samples are in time order and its newest row only grows: a sample that
        // is too early or too old for this provider sample is so for every later one.
        j++;
      }
      if (j >= this.subscriber.length) break;
      lags.push((this.subscriber[j]!.t - x.t) / 1000);
    }
    return {
      mean: lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length),
      p50: percentile(lags, 50),
      p99: percentile(lags, 99),
      max: percentile(lags, 100),
      samples: lags.length,
    };
  }
}

interface VariantRun {
  variant: string;
  run: number;
  tps: number;
  failed: number;
  lag?: Lag;
  cpuMs: { node: number; provider: number; subscriber: number };
  /** pgferry's worker counters at the end of the run (batches, events since its start). */
  worker?: { batches: number; events: number };
  /** BENCH_TPCB_SAMPLE=1: share of samples per session state and statement. */
  sessions?: Record<string, number>;
  /** BENCH_TPCB_STATEMENTS=1: the statements of the provider (and pgferry's subscriber) by total time. */
  statements?: { provider: string[]; subscriber?: string[] };
  /** BENCH_TPCB_PROCESSES=1: the provider's CPU by kind of process, µs per transaction. */
  processes?: Record<string, number>;
}

export const tpcb: BenchCase = {
  name: 'tpcb',
  summary: `pgbench TPC-B (scale ${SCALE}, ${CLIENTS} clients, ${SECONDS} s): tps with pgferry capture + worker and with native logical replication vs no capture; data lag under load`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    checkPgbench();
    const pair = await LogicalPair.start('tpcb', STATEMENTS ? STATEMENT_SETTINGS : {});
    const db = (side: 'provider' | 'subscriber', prefix: string) => pair.database(side, prefix);
    let running: ReplicationSystem | undefined;
    try {
      const base = await db('provider', 'tpcb_base');
      const ferry = new FerryReplication(await db('provider', 'tpcb_ferry'), await db('subscriber', 'tpcb_ferry_sub'), TABLES);
      const native = new NativeReplication(await db('provider', 'tpcb_native'), await db('subscriber', 'tpcb_native_sub'), TABLES);
      ctx.log(`tpcb: pgbench -i -s ${SCALE} (three databases) and the initial copies ...`);
      for (const d of [base, ferry.provider, native.provider]) await initTables(d, true);
      await initTables(native.subscriber, false);
      await native.publish();
      await ferry.setup();
      for (const sys of [ferry, native]) {
        running = sys;
        await sys.start();
        await sys.stop();
        running = undefined;
      }
      for (const d of [base, ferry.provider, ferry.subscriber, native.provider, native.subscriber]) await d.pool.query('VACUUM ANALYZE');
      if (STATEMENTS) for (const d of [base, ferry.provider, ferry.subscriber]) await d.pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

      const cpu = new CpuSplitMeter(pair.dataDirs);
      const variants: { name: string; provider: BenchDatabase; subscriber: BenchDatabase; sys?: ReplicationSystem }[] = [
        { name: 'no capture', provider: base, subscriber: ferry.subscriber },
        { name: 'pgferry', provider: ferry.provider, subscriber: ferry.subscriber, sys: ferry },
        { name: 'native', provider: native.provider, subscriber: native.subscriber, sys: native },
      ];
      const results: VariantRun[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        // Rotated: over three runs each variant is first, second and third once.
        const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
        for (const v of order) {
          for (const d of v.sys ? [v.provider, v.subscriber] : [v.provider]) {
            await d.pool.query('VACUUM "pgbench_branches", "pgbench_tellers"');
          }
          await settleBoth(v.provider, v.subscriber);
          if (v.sys) {
            running = v.sys;
            await v.sys.start();
          }
          await sleep(REST_MS);
          const probe = new LagProbe(v.provider, v.subscriber);
          await probe.start();
          const sampler =
            SAMPLE && v.sys instanceof FerryReplication
              ? new WaitSampler([{ label: 'provider', url: v.provider.url }, { label: 'subscriber', url: v.subscriber.url }], 10, true)
              : undefined;
          await sampler?.start();
          const statements = STATEMENTS && v.sys !== native;
          const statementDbs = statements ? [v.provider, ...(v.sys ? [v.subscriber] : [])] : [];
          for (const d of statementDbs) await d.pool.query('SELECT pg_stat_statements_reset()');
          const procs = PROCESSES ? new ProcessCpuSampler(v.provider, pair.dataDirs[0]!) : undefined;
          procs?.start();
          const cpu0 = cpu.now();
          const t0 = nowMs();
          const out = await pgbench(v.provider, ['-n', '-b', 'tpcb-like', '-c', String(CLIENTS), '-T', String(SECONDS)]);
          const t1 = nowMs();
          const sessions = await sampler?.stop();
          const top = statements
            ? {
                provider: await topStatements(v.provider, STATEMENTS_TOP),
                ...(v.sys ? { subscriber: await topStatements(v.subscriber, STATEMENTS_TOP) } : {}),
              }
            : undefined;
          const lag = await probe.stop(t0, t1, v.sys !== undefined);
          const used = CpuSplitMeter.since(cpu0, cpu.now());
          const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
          if (!Number.isFinite(tps)) throw new Error(`pgbench printed no tps:\n${out}`);
          const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
          const processes = await procs?.stop(used.servers[0]!, tps * SECONDS);
          const stats = v.sys instanceof FerryReplication ? v.sys.stats() : undefined;
          const worker = stats ? { batches: stats.batches, events: stats.events } : undefined;
          if (v.sys) {
            await v.sys.stop();
            running = undefined;
          }
          const x: VariantRun = {
            variant: v.name,
            run: r + 1,
            tps,
            failed,
            ...(lag ? { lag } : {}),
            cpuMs: { node: used.node, provider: used.servers[0]!, subscriber: used.servers[1]! },
            ...(worker ? { worker } : {}),
            ...(sessions ? { sessions } : {}),
            ...(top ? { statements: top } : {}),
            ...(processes ? { processes } : {}),
          };
          results.push(x);
          ctx.log(
            `tpcb run ${r + 1}/${ctx.runs}: ${v.name} ${fmtRate(tps)} tps` +
              (lag ? `, data lag mean ${lag.mean.toFixed(3)} s (p50 ${lag.p50.toFixed(3)}, p99 ${lag.p99.toFixed(3)}, max ${lag.max.toFixed(3)}; ${lag.samples} samples)` : '') +
              `, CPU node/provider/subscriber ${used.node.toFixed(0)}/${used.servers[0]!.toFixed(0)}/${used.servers[1]!.toFixed(0)} ms`,
          );
        }
      }

      const byRun = (variant: string) => results.filter((x) => x.variant === variant);
      const perRun: PairedRates['perRun'] = Array.from({ length: ctx.runs }, (_, r) => ({
        baseline: byRun('no capture')[r]!.tps,
        measured: { pgferry: byRun('pgferry')[r]!.tps, native: byRun('native')[r]!.tps },
      }));
      const p: PairedRates = {
        baseline: median(perRun.map((x) => x.baseline)),
        rates: Object.fromEntries(['pgferry', 'native'].map((k) => [k, median(perRun.map((x) => x.measured[k]!))])),
        ratios: Object.fromEntries(['pgferry', 'native'].map((k) => [k, median(perRun.map((x) => x.measured[k]! / x.baseline))])),
        perRun,
      };
      const lagOf = (variant: string) => median(byRun(variant).map((x) => x.lag!.mean));
      const cpuPerTx = (variant: string) =>
        median(byRun(variant).map((x) => ((x.cpuMs.node + x.cpuMs.provider + x.cpuMs.subscriber) * 1000) / (x.tps * SECONDS)));
      const cpuSplit = (variant: string) =>
        (['node', 'provider', 'subscriber'] as const)
          .map((k) => `${k} ${median(byRun(variant).map((x) => (x.cpuMs[k] * 1000) / (x.tps * SECONDS))).toFixed(0)}`)
          .join(', ');
      const setup = `pgbench -n -b tpcb-like -c ${CLIENTS} -T ${SECONDS}, scale ${SCALE}, pgbench_history with hid bigserial PRIMARY KEY; ${ctx.runs} runs, variants' order rotated; two servers with wal_level = logical (the only setting changed${STATEMENTS ? `, and for diagnosis ${Object.entries(STATEMENT_SETTINGS).map(([k, v]) => `${k} = ${v}`).join(', ')}` : ''})`;
      const lagRow = (variant: string, target: string, max: number | null): ResultRow => {
        const lag = lagOf(variant);
        return {
          case: `tpcb data lag (${variant})`,
          status: 'measured',
          unit: 's',
          rate: lag,
          baseline: null,
          ratio: null,
          rateText: `mean ${lag.toFixed(3)} s (p99 ${median(byRun(variant).map((x) => x.lag!.p99)).toFixed(3)} s)`,
          baselineText: '-',
          ratioText: '-',
          target,
          met: max === null ? null : lag <= max,
          runs: ctx.runs,
          notes: [
            `newest pgbench_history row (max(hid)) on the provider every ${PROVIDER_PROBE_MS} ms vs the first subscriber sample (every ${SUBSCRIBER_PROBE_MS} ms) showing it; from ${LAG_WARMUP_MS / 1000} s into each run to its end; median over runs of each run's mean; per run: ${byRun(variant).map((x) => x.lag!.mean.toFixed(3)).join(', ')} s`,
            ...byRun(variant)
              .filter((x) => x.worker)
              .slice(0, 1)
              .map((x) => `run 1: the worker applied ${x.worker!.batches} batches of ${(x.worker!.events / Math.max(1, x.worker!.batches)).toFixed(0)} events on average (${(x.worker!.batches / SECONDS).toFixed(1)} batches/s)`),
            ...byRun(variant)
              .filter((x) => x.sessions)
              .slice(0, 1)
              .map((x) => `sessions sampled in run 1 (BENCH_TPCB_SAMPLE=1, share of 10 ms samples): ${WaitSampler.format(x.sessions!, 16)}`),
          ],
          detail: { perRun: byRun(variant).map((x) => ({ run: x.run, ...x.lag })) },
        };
      };
      return [
        ratioRow('tpcb (pgferry)', 'pgferry', p, 0.85, 'tps', {
          notes: [
            setup,
            `pgferry: the four tables captured (statement triggers), ${ferrySettingsText()}; per run: ${byRun('pgferry').map((x) => `${fmtRate(x.tps)} vs ${fmtRate(byRun('no capture')[x.run - 1]!.tps)}`).join(', ')} tps`,
            `CPU per transaction (µs, this process + both servers, medians): no capture ${cpuPerTx('no capture').toFixed(0)}, pgferry ${cpuPerTx('pgferry').toFixed(0)} (${cpuSplit('pgferry')}), native ${cpuPerTx('native').toFixed(0)} (${cpuSplit('native')})`,
            ...results
              .filter((x) => x.processes && x.run === 1)
              .map(
                (x) =>
                  `${x.variant}, the provider's CPU by process in run 1 (BENCH_TPCB_PROCESSES=1, µs per transaction): ${Object.entries(x.processes!)
                    .map(([k, us]) => `${k} ${us}`)
                    .join(', ')}`,
              ),
            ...results
              .filter((x) => x.statements && x.run === 1)
              .flatMap((x) =>
                Object.entries(x.statements!).map(
                  ([side, list]) => `${x.variant}, ${side} statements in run 1 (BENCH_TPCB_STATEMENTS=1, pg_stat_statements, by planning + execution time):\n    ${list.join('\n    ')}`,
                ),
              ),
          ],
          detail: { runs: results },
        }),
        ratioRow('tpcb (native, for reference)', 'native', p, 0.85, 'tps', {
          notes: [`native: CREATE PUBLICATION for the four tables, CREATE SUBSCRIPTION defaults; per run: ${byRun('native').map((x) => `${fmtRate(x.tps)}`).join(', ')} tps`],
          met: null,
          target: '(reference)',
        }),
        lagRow('pgferry', '≤ 0.10 s', 0.1),
        lagRow('native', '(reference)', null),
      ];
    } finally {
      await running?.stop().catch(() => undefined);
      await pair.destroy();
    }
  },
};
