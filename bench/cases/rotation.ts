/**
 * rotation: latency of a single-connection producer (Producer.insert, one event per
 * transaction, back to back) while the queue's event tables rotate every 2 s, against the
 * same producer, ticker and consumer with rotation effectively off. Lock waits of any
 * session on the database are sampled from pg_stat_activity throughout.
 */
import pg from 'pg';
import { Consumer, Producer, Ticker, createQueue, dropQueue, registerConsumer, setQueueConfig } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { payloadObject } from '../lib/payload.js';
import { max, median, nowMs, percentile } from '../lib/stats.js';

const SECONDS_PER_SIDE = Number(process.env.BENCH_ROTATION_SECONDS ?? 6);
const ROTATION_PERIOD_MS = 2000;
const MAINT_INTERVAL_MS = 250;

interface SideResult {
  maxMs: number;
  p99Ms: number;
  p50Ms: number;
  events: number;
  rotations: number;
  lockWaitSamples: number;
  lockWaiters: string[];
}

async function side(db: BenchDatabase, rotate: boolean): Promise<SideResult> {
  await dropQueue(db.pool, 'rot', { force: true }).catch(() => undefined);
  await createQueue(db.pool, 'rot', {
    config: { ticker_max_lag: 20, rotation_period: rotate ? ROTATION_PERIOD_MS : '1 day' },
  });
  await registerConsumer(db.pool, 'rot', 'bench');
  const ticker = new Ticker({ connectionString: db.url }, { tickIntervalMs: 10, maintIntervalMs: MAINT_INTERVAL_MS }).start();
  const consumer = new Consumer(db.pool, { queue: 'rot', name: 'bench' });
  const stop = new AbortController();
  const consuming = consumer.run(
    async (batch) => {
      for await (const _ of batch.events()) void _;
    },
    { signal: stop.signal },
  );
  const monitor = new pg.Client({ connectionString: db.url });
  await monitor.connect();
  let lockWaitSamples = 0;
  const lockWaiters = new Set<string>();
  let monitoring = true;
  const watching = (async () => {
    while (monitoring) {
      const { rows } = await monitor.query<{ q: string }>(
        `SELECT left(query, 80) AS q FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      lockWaitSamples += rows.length;
      for (const r of rows) lockWaiters.add(r.q);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const client = await db.pool.connect();
  const producer = new Producer(client, { queue: 'rot' });
  const lat: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 300));
    const t0 = nowMs();
    let i = 0;
    while (nowMs() - t0 < SECONDS_PER_SIDE * 1000) {
      const s = nowMs();
      await producer.insert('order.created', payloadObject(i++));
      lat.push(nowMs() - s);
    }
  } finally {
    client.release();
    monitoring = false;
    await watching;
    await monitor.end();
    stop.abort();
    await consuming;
    await consumer.close();
    await ticker.stop();
  }
  return {
    maxMs: max(lat),
    p99Ms: percentile(lat, 99),
    p50Ms: percentile(lat, 50),
    events: lat.length,
    rotations: ticker.stats.rotations,
    lockWaitSamples,
    lockWaiters: [...lockWaiters],
  };
}

export const rotation: BenchCase = {
  name: 'rotation',
  summary: `producer latency with event tables rotating every ${ROTATION_PERIOD_MS / 1000} s vs without rotation`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('rotation', { poolSize: 6 });
    try {
      const runs: { base: SideResult; rot: SideResult }[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        let base: SideResult;
        let rot: SideResult;
        await db.settle();
        if (r % 2 === 0) {
          base = await side(db, false);
          await db.settle();
          rot = await side(db, true);
        } else {
          rot = await side(db, true);
          await db.settle();
          base = await side(db, false);
        }
        ctx.log(
          `rotation run ${r + 1}/${ctx.runs}: with rotation max ${rot.maxMs.toFixed(1)} ms (p99 ${rot.p99Ms.toFixed(2)}, ${rot.rotations} rotations, ${rot.lockWaitSamples} lock-wait samples); without max ${base.maxMs.toFixed(1)} ms (p99 ${base.p99Ms.toFixed(2)})`,
        );
        runs.push({ base, rot });
      }
      const rotMax = median(runs.map((x) => x.rot.maxMs));
      const baseMax = median(runs.map((x) => x.base.maxMs));
      const ratio = median(runs.map((x) => x.rot.maxMs / x.base.maxMs));
      const lockWaits = runs.reduce((n, x) => n + x.rot.lockWaitSamples + x.base.lockWaitSamples, 0);
      const rotations = runs.map((x) => x.rot.rotations);
      const f = (x: number) => x.toFixed(1);
      return [
        {
          case: 'rotation',
          status: 'measured',
          unit: 'ms',
          rate: rotMax,
          baseline: baseMax,
          ratio,
          rateText: `max ${f(rotMax)} ms (p99 ${median(runs.map((x) => x.rot.p99Ms)).toFixed(2)})`,
          baselineText: `max ${f(baseMax)} ms (p99 ${median(runs.map((x) => x.base.p99Ms)).toFixed(2)})`,
          ratioText: `${ratio.toFixed(2)}× max, ${lockWaits} lock waits`,
          target: 'max ≤ 1.5× baseline, no lock waits',
          met: ratio <= 1.5 && lockWaits === 0 && rotations.every((n) => n > 0),
          runs: runs.length,
          notes: [
            `${SECONDS_PER_SIDE} s per side per run, one producer connection back to back; rotation_period ${ROTATION_PERIOD_MS} ms, Ticker maintIntervalMs ${MAINT_INTERVAL_MS}, a consumer keeping up; rotations per run: ${rotations.join(', ')}`,
            'lock waits: sessions of the database in wait_event_type Lock, sampled every ~5 ms (short waits between samples are only visible in max latency)',
            'ratio = median over runs of (max with rotation / max without); max latency on a shared 2-core host is dominated by scheduling and fsync stalls',
          ],
          detail: { runs },
        },
      ];
    } finally {
      await db.drop();
    }
  },
};
