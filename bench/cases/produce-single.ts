/**
 * produce-single: Producer.insert (pgferry.insert_event), one event per transaction on one
 * connection, against a plain single-row INSERT per transaction into a bigserial table.
 * Both sides send the same JSON payload as one parameterized statement in autocommit.
 */
import { Producer, createQueue } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import { EVENT_TYPE, payloadJson, payloadObject, payloadSql } from '../lib/payload.js';
import { median, nowMs } from '../lib/stats.js';

const SECONDS_PER_SIDE = Number(process.env.BENCH_SINGLE_SECONDS ?? 4);
const LOOP_EVENTS = 20_000;

/** Calls `fn` back to back for `ms`; returns calls per second. */
export async function ratePerSecond(ms: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = nowMs();
  let n = 0;
  while (nowMs() - t0 < ms) await fn(n++);
  return n / ((nowMs() - t0) / 1000);
}

export const produceSingle: BenchCase = {
  name: 'produce-single',
  summary: 'insert_event per transaction vs plain INSERT per transaction (bigserial key)',
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('produce_single');
    const client = await db.connect();
    try {
      await createQueue(client, 'bench');
      await client.query(`CREATE TABLE plain_event (id bigserial PRIMARY KEY, type text, data text,
                            created timestamptz NOT NULL DEFAULT now())`);
      const producer = new Producer(client, { queue: 'bench' });
      let i = 0;
      const p = await pairedRates(
        ctx,
        'produce-single',
        ctx.runs,
        async () => {
          await db.settle();
          return ratePerSecond(SECONDS_PER_SIDE * 1000, () =>
            client.query('INSERT INTO plain_event (type, data) VALUES ($1, $2)', [EVENT_TYPE, payloadJson(i++)]),
          );
        },
        {
          insert_event: async () => {
            await db.settle();
            return ratePerSecond(SECONDS_PER_SIDE * 1000, () => producer.insert(EVENT_TYPE, payloadObject(i++)));
          },
        },
      );

      // Diagnostic (no target): the same statements in a server-side loop inside one
      // transaction, i.e. without commit, network and client costs: the function's own CPU cost.
      const loop = async (sql: string) => {
        await client.query('BEGIN');
        const t0 = nowMs();
        await client.query(sql);
        const ms = nowMs() - t0;
        await client.query('ROLLBACK');
        return (ms * 1000) / LOOP_EVENTS;
      };
      const usPlain: number[] = [];
      const usEvent: number[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        usPlain.push(
          await loop(`DO $$ BEGIN FOR g IN 1..${LOOP_EVENTS} LOOP
                        INSERT INTO plain_event (type, data) VALUES ('${EVENT_TYPE}', ${payloadSql('g')}); END LOOP; END $$`),
        );
        usEvent.push(
          await loop(`DO $$ BEGIN FOR g IN 1..${LOOP_EVENTS} LOOP
                        PERFORM pgferry.insert_event('bench', '${EVENT_TYPE}', ${payloadSql('g')}); END LOOP; END $$`),
        );
      }
      const plainUs = median(usPlain);
      const eventUs = median(usEvent);
      return [
        ratioRow('produce-single', 'insert_event', p, 0.9, 'ev/s', {
          notes: [
            `one connection, autocommit, ${SECONDS_PER_SIDE} s per side per run; each commit waits for a WAL flush (fsync on)`,
            `diagnostic, server-side loop without commit: plain INSERT ${plainUs.toFixed(1)} µs/row, insert_event ${eventUs.toFixed(1)} µs/event (+${(eventUs - plainUs).toFixed(1)} µs)`,
          ],
          detail: {
            perRun: p.perRun,
            serverLoopMicrosPerRow: { plainInsert: usPlain, insertEvent: usEvent },
          },
        }),
      ];
    } finally {
      await client.end();
      await db.drop();
    }
  },
};
