/**
 * replay: a consumer rewound over a long history drains it. 10,000,000 events
 * (`BENCH_REPLAY_EVENTS`) in ticks of 10,000, spanning two event tables (the queue rotated
 * halfway, as days of history do); a TypeScript Consumer registered at the first tick
 * (what `consumer rewind` does) runs until it has seen them all. The target is
 * absolute: ≥ 100,000 events/s, ten times the 9.3k/s that replaying 400M events in 12 hours
 * implies. Next to it, a raw pg-cursor SELECT of the same rows from the same tables, in the
 * same run, says how much of the machine's speed the replay gets.
 */
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates } from '../lib/runner.js';
import { drain, fillQueue, rawCursor } from './consume.js';

const EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 10_000_000);
const PER_TICK = 10_000;
const TARGET = 100_000;

export const replay: BenchCase = {
  name: 'replay',
  summary: `a consumer rewound ${EVENTS.toLocaleString('en-US')} events (two event tables, ticks of ${PER_TICK.toLocaleString('en-US')}) drains them; vs raw pg-cursor SELECT`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('replay', { poolSize: 4 });
    try {
      ctx.log(`replay: filling a queue with ${EVENTS.toLocaleString('en-US')} events (not timed) ...`);
      const q = await fillQueue(db, 'q_replay', EVENTS, PER_TICK, { rotateAt: Math.floor(EVENTS / 2) });
      const p = await pairedRates(
        ctx,
        'replay',
        ctx.runs,
        async () => {
          await db.settle();
          return rawCursor(db, q, EVENTS);
        },
        {
          replay: async () => {
            await db.settle();
            return drain(db, q, EVENTS);
          },
        },
      );
      const rate = p.rates.replay!;
      return [
        {
          case: 'replay',
          status: 'measured',
          unit: 'ev/s',
          rate,
          baseline: p.baseline,
          ratio: p.ratios.replay!,
          target: `≥ ${TARGET.toLocaleString('en-US')} ev/s`,
          met: rate >= TARGET,
          runs: p.perRun.length,
          scale: EVENTS,
          notes: [
            `Consumer.run from the first tick (registerConsumerAt, as \`consumer rewind\`), fetchSize 1000, payload JSON-decoded, ${EVENTS / PER_TICK} batches over ${q.tables.length} event tables; baseline: the same rows read by a raw pg-cursor SELECT (no order, no decoding)`,
            ...(p.cpuRatios?.replay !== undefined ? [`CPU-time ratio vs the raw read: ${p.cpuRatios.replay.toFixed(2)}×`] : []),
          ],
          detail: { perRun: p.perRun, tables: q.tables },
        },
      ];
    } finally {
      await db.drop();
    }
  },
};
