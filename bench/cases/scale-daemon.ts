/**
 * scale-daemon: one `pgferry daemon` process ticking many databases of 10 queues each
 * (10, 25, 50 databases: BENCH_SCALE_DATABASES), as the count grows:
 * - idle: the daemon's CPU (its process, from /proc) per second with nothing to tick;
 * - under load (one event per queue per second, each in its own transaction): ticks made,
 *   the daemon's CPU per tick, and tick latency (an event's transaction time to the first
 *   tick that counts it, both server clock times: p50, p99);
 * - connections the daemon holds (pg_stat_activity, application_name pgferry-daemon).
 * The daemon runs with its defaults (tickIntervalMs 100, maintenance every 2 s); queues with
 * ticker_max_lag 100 ms (a latency-minded setting; the default 3 s would be most of the
 * latency). The server allows 300 connections (the default 100 is less than 50 databases
 * with a producer each need): the only setting this case changes.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { install } from '@pgferry/sql';
import { PgServer } from '@pgferry/test/pg-server';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { nowMs, percentile } from '../lib/stats.js';

const COUNTS = (process.env.BENCH_SCALE_DATABASES ?? '10,25,50').split(',').map(Number);
const QUEUES = 10;
const IDLE_MS = Number(process.env.BENCH_SCALE_IDLE_MS ?? 10_000);
const LOAD_MS = Number(process.env.BENCH_SCALE_LOAD_MS ?? 20_000);
const CLI = path.resolve('packages/cli/bin/pgferry.mjs');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process (ms). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

interface Db {
  name: string;
  url: string;
  pool: pg.Pool;
}

async function addDatabase(server: PgServer, i: number): Promise<Db> {
  const name = `scale_${i}`;
  const url = await server.createDatabase(name);
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'pgferry-bench' });
  pool.on('error', () => undefined);
  await install(pool);
  for (let q = 0; q < QUEUES; q++) {
    await pool.query(`SELECT pgferry.create_queue($1)`, [`q${q}`]);
    await pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_lag', '100 milliseconds')`, [`q${q}`]);
    // A consumer that never reads keeps the ticks for the latency query.
    await pool.query(`SELECT pgferry.register_consumer($1, 'bench')`, [`q${q}`]);
  }
  return { name, url, pool };
}

async function ticks(dbs: Db[]): Promise<number> {
  const counts = await Promise.all(dbs.map(async (d) => Number((await d.pool.query('SELECT count(*) AS n FROM pgferry.tick')).rows[0].n)));
  return counts.reduce((a, b) => a + b, 0);
}

export const scaleDaemon: BenchCase = {
  name: 'scale-daemon',
  summary: `one daemon ticking ${COUNTS.join('/')} databases x ${QUEUES} queues: idle CPU, CPU per tick, tick latency, connections`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const server = await PgServer.start({ name: 'pgferry-bench-scale', settings: { max_connections: 300 } });
    const dbs: Db[] = [];
    const rows: ResultRow[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-scale-'));
    try {
      for (const count of COUNTS) {
        while (dbs.length < count) dbs.push(await addDatabase(server, dbs.length));
        ctx.log(`${count} databases x ${QUEUES} queues ready`);
        const config = path.join(dir, `daemon-${count}.json`);
        writeFileSync(config, JSON.stringify({ databases: dbs.map((d) => ({ name: d.name, url: d.url })) }));
        const daemon = spawn(process.execPath, [CLI, 'daemon', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        daemon.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
        try {
          // Every database has its ticker leader.
          const admin = dbs[0]!.pool;
          const deadline = nowMs() + 60_000;
          const held = async () =>
            Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'pgferry-daemon'`)).rows[0].n);
          while ((await held()) < count) {
            if (nowMs() > deadline || daemon.exitCode !== null) throw new Error(`the daemon did not connect to ${count} databases: ${stderr}`);
            await sleep(200);
          }
          await sleep(2000); // startup compilation and first maintenance out of the way

          const idle0 = processCpuMs(daemon.pid!);
          await sleep(IDLE_MS);
          const idleCpuMsPerS = ((processCpuMs(daemon.pid!) - idle0) / IDLE_MS) * 1000;

          const since = (await admin.query<{ t: Date }>('SELECT now() AS t')).rows[0]!.t;
          const ticks0 = await ticks(dbs);
          const cpu0 = processCpuMs(daemon.pid!);
          let producing = true;
          const producers = dbs.map(async (d) => {
            // One event per queue per second, spread over the second.
            for (let k = 0; producing; k++) {
              const t0 = nowMs();
              await d.pool.query(`SELECT pgferry.insert_event($1, 'e', 'x')`, [`q${k % QUEUES}`]);
              await sleep(Math.max(0, 1000 / QUEUES - (nowMs() - t0)));
            }
          });
          await sleep(LOAD_MS);
          const connections = await held();
          producing = false;
          await Promise.all(producers);
          await sleep(1000); // the last events' ticks
          const cpuMs = processCpuMs(daemon.pid!) - cpu0;
          const made = (await ticks(dbs)) - ticks0;
          const latencies: number[] = [];
          let unticked = 0;
          for (const d of dbs) {
            const { rows: r } = await d.pool.query<{ ms: number | null }>(
              `SELECT extract(epoch FROM (SELECT min(t.tick_time) FROM pgferry.tick t
                                           WHERE t.tick_queue = e.ev_queue AND t.tick_event_seq >= e.ev_id) - e.ev_time) * 1000 AS ms
                 FROM pgferry.event e WHERE e.ev_time >= $1`,
              [since],
            );
            for (const x of r) x.ms === null ? unticked++ : latencies.push(Number(x.ms));
          }
          const p50 = percentile(latencies, 50);
          const p99 = percentile(latencies, 99);
          rows.push({
            case: `scale-daemon (${count} databases x ${QUEUES} queues)`,
            status: 'measured',
            unit: 'ms',
            rate: p99,
            baseline: null,
            ratio: null,
            rateText: `tick latency p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`,
            baselineText: `${(cpuMs / Math.max(made, 1)).toFixed(2)} ms CPU/tick, idle ${idleCpuMsPerS.toFixed(0)} ms CPU/s`,
            ratioText: `${connections} connections`,
            target: 'report growth',
            met: null,
            runs: 1,
            scale: count * QUEUES,
            notes: unticked ? [`${unticked} events had no tick 1 s after the load ended`] : [],
            detail: { databases: count, queues: QUEUES, ticks: made, events: latencies.length + unticked, daemonCpuMs: cpuMs, idleCpuMsPerS, connections, p50, p99 },
          });
        } finally {
          daemon.kill('SIGTERM');
          await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.once('exit', r)));
        }
      }
      return rows;
    } finally {
      await Promise.allSettled(dbs.map((d) => d.pool.end()));
      await server.destroy();
    }
  },
};
