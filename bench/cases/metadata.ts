/**
 * metadata: what a held snapshot costs pgferry's metadata. N consumers keep up with a
 * producer at 1,000 events/s (Ticker with its defaults, maintenance every 2 s) while a
 * REPEATABLE READ session holds its snapshot for the whole run (10 minutes by default).
 * Reported at the end, before the snapshot is released: dead tuples and size of every
 * metadata table (positions, registrations, ticks, queues) and of pg_class (TRUNCATE swaps
 * a relation's file, which updates its catalog row), with the growth per hour
 * extrapolated from the run. There is no baseline: the figures are absolute.
 */
import pg from 'pg';
import { Consumer, Producer, Ticker, createQueue, registerConsumer } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { payloadObject } from '../lib/payload.js';
import { nowMs } from '../lib/stats.js';

const SECONDS = Number(process.env.BENCH_METADATA_SECONDS ?? 600);
const CONSUMERS = Number(process.env.BENCH_METADATA_CONSUMERS ?? 4);
const EVENTS_PER_SECOND = 1000;

/** Metadata relations: each partitioned table with its partitions (and their indexes, TOAST). */
const GROUPS: Record<string, RegExp> = {
  'subscription_pos (positions log)': /^subscription_pos_\d$/,
  'subscription_reg (registrations)': /^subscription_reg$/,
  'tick': /^tick_\d$/,
  'queue': /^queue$/,
  'consumer': /^consumer$/,
};

interface Sample {
  at: number;
  groups: Record<string, { dead: number; live: number; bytes: number }>;
  pgClassDead: number;
  batches: number;
}

async function sample(monitor: pg.Client, batches: number): Promise<Sample> {
  await monitor.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await monitor.query<{ relname: string; dead: string; live: string; bytes: string }>(
    `SELECT s.relname, s.n_dead_tup AS dead, s.n_live_tup AS live, pg_total_relation_size(s.relid) AS bytes
       FROM pg_stat_user_tables s WHERE s.schemaname = 'pgferry'`,
  );
  const groups: Sample['groups'] = {};
  for (const [name, re] of Object.entries(GROUPS)) {
    const g = { dead: 0, live: 0, bytes: 0 };
    for (const r of rows.filter((x) => re.test(x.relname))) {
      g.dead += Number(r.dead);
      g.live += Number(r.live);
      g.bytes += Number(r.bytes);
    }
    groups[name] = g;
  }
  const cls = await monitor.query<{ dead: string }>(
    `SELECT n_dead_tup AS dead FROM pg_stat_sys_tables WHERE relname = 'pg_class' AND schemaname = 'pg_catalog'`,
  );
  return { at: nowMs(), groups, pgClassDead: Number(cls.rows[0]?.dead ?? 0), batches };
}

async function runOnce(ctx: BenchContext, db: BenchDatabase): Promise<{ start: Sample; end: Sample; maxPositionRows: number }> {
  await createQueue(db.pool, 'meta');
  const names = Array.from({ length: CONSUMERS }, (_, i) => `c${i}`);
  for (const n of names) await registerConsumer(db.pool, 'meta', n);
  // One more consumer on a queue that never gets events: the idle-poll path.
  await createQueue(db.pool, 'meta_idle');
  await registerConsumer(db.pool, 'meta_idle', 'idle');

  const ticker = new Ticker({ connectionString: db.url }).start();
  const stop = new AbortController();
  let batches = 0;
  const consumers = [...names.map((n) => new Consumer(db.pool, { queue: 'meta', name: n })),
                     new Consumer(db.pool, { queue: 'meta_idle', name: 'idle' })];
  const running = consumers.map((c) =>
    c.run(async (batch) => {
      for await (const _ of batch.events()) void _;
      batches++;
    }, { signal: stop.signal }),
  );
  const producer = new Producer(db.pool, { queue: 'meta' });
  let produced = 0;
  const t0 = nowMs();
  const producing = (async () => {
    // 100 events every 100 ms, paced against the clock.
    while (!stop.signal.aborted) {
      const due = Math.floor(((nowMs() - t0) / 1000) * EVENTS_PER_SECOND) - produced;
      if (due > 0) {
        await producer.insertMany(Array.from({ length: due }, (_, i) => ({ type: 'order.created', payload: payloadObject(produced + i) })));
        produced += due;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const holder = new pg.Client({ connectionString: db.url });
  const monitor = new pg.Client({ connectionString: db.url });
  await holder.connect();
  await monitor.connect();
  let maxPositionRows = 0;
  try {
    await new Promise((r) => setTimeout(r, 3000)); // warm up: consumers at their pace
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT count(*) FROM pg_class');
    const start = await sample(monitor, batches);
    const end0 = nowMs() + SECONDS * 1000;
    let nextLog = nowMs() + 60_000;
    while (nowMs() < end0) {
      await new Promise((r) => setTimeout(r, Math.min(5000, end0 - nowMs())));
      const n = Number((await monitor.query<{ n: string }>('SELECT count(*) AS n FROM pgferry.subscription_pos')).rows[0]!.n);
      maxPositionRows = Math.max(maxPositionRows, n);
      if (nowMs() >= nextLog) {
        ctx.log(`metadata: ${Math.round((nowMs() - start.at) / 1000)} s, ${batches - start.batches} batches, ${n} position rows`);
        nextLog += 60_000;
      }
    }
    // Let every backend's statistics reach the shared counters (flushed at most every 1 s).
    await new Promise((r) => setTimeout(r, 2000));
    const end = await sample(monitor, batches);
    return { start, end, maxPositionRows };
  } finally {
    stop.abort();
    await producing;
    await Promise.all(running);
    await Promise.all(consumers.map((c) => c.close()));
    await ticker.stop();
    await holder.query('COMMIT').catch(() => undefined);
    await holder.end();
    await monitor.end();
  }
}

export const metadata: BenchCase = {
  name: 'metadata',
  summary: `dead tuples and size of the metadata tables after ${SECONDS} s of a held snapshot, ${CONSUMERS} consumers at ${EVENTS_PER_SECOND} events/s`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('metadata', { poolSize: CONSUMERS + 6 });
    try {
      const { start, end, maxPositionRows } = await runOnce(ctx, db);
      const hours = (end.at - start.at) / 3_600_000;
      const perHour = (a: number, b: number) => Math.round((b - a) / hours);
      const table = Object.keys(GROUPS).map((name) => {
        const a = start.groups[name]!;
        const b = end.groups[name]!;
        return {
          table: name,
          deadTuples: b.dead,
          deadTuplesPerHour: perHour(a.dead, b.dead),
          liveRows: b.live,
          bytes: b.bytes,
          bytesPerHour: perHour(a.bytes, b.bytes),
        };
      });
      const dead = table.reduce((n, t) => n + t.deadTuples, 0);
      const deadPerHour = table.reduce((n, t) => n + t.deadTuplesPerHour, 0);
      const batches = end.batches - start.batches;
      for (const t of table) {
        ctx.log(
          `metadata: ${t.table}: ${t.deadTuples} dead (${t.deadTuplesPerHour}/h), ${t.liveRows} live, ${(t.bytes / 1024).toFixed(0)} kB (${(t.bytesPerHour / 1024).toFixed(0)} kB/h)`,
        );
      }
      return [
        {
          case: 'metadata',
          status: 'measured',
          unit: 'dead tuples',
          rate: dead,
          baseline: null,
          ratio: null,
          rateText: `${dead} dead tuples (${deadPerHour}/h) after ${Math.round(SECONDS)} s, ${batches} batches`,
          target: 'no growth per batch under a held snapshot',
          met: deadPerHour * hours < batches / 100,
          runs: 1,
          notes: [
            `${CONSUMERS} consumers keeping up with ${EVENTS_PER_SECOND} events/s plus one idle consumer, Ticker defaults (maintenance every 2 s), a REPEATABLE READ snapshot held ${SECONDS} s (BENCH_METADATA_SECONDS)`,
            ...table.map(
              (t) =>
                `${t.table}: ${t.deadTuples} dead tuples (${t.deadTuplesPerHour}/h), ${t.liveRows} live rows, ${(t.bytes / 1024).toFixed(0)} kB (${(t.bytesPerHour / 1024).toFixed(0)} kB/h)`,
            ),
            `position log: at most ${maxPositionRows} rows at once (it rotates every 5 minutes, so it grows as a sawtooth, not per hour); ticks are kept while their events are (the held snapshot also holds the event tables' rotation)`,
            `pg_class: ${end.pgClassDead - start.pgClassDead} dead tuples more (TRUNCATE of a partition updates its catalog rows)`,
          ],
          detail: { start, end, table, batches, maxPositionRows },
        },
      ];
    } finally {
      await db.drop();
    }
  },
};
