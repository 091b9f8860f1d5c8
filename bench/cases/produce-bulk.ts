/**
 * produce-bulk: 1,000,000 events from one call of the set-based bulk insert
 * (pgferry.insert_events with arrays built in SQL) and from the TypeScript
 * Producer.insertMany (arrays sent from Node), against one INSERT ... SELECT of the same
 * rows into a plain table.
 */
import { Producer, createQueue, dropQueue, type EventSchemas, type NewEvent } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import { EVENT_TYPE, payloadObject, payloadSql } from '../lib/payload.js';

export const BULK_ROWS = Number(process.env.BENCH_BULK_ROWS ?? 1_000_000);

export const produceBulk: BenchCase = {
  name: 'produce-bulk',
  summary: `${BULK_ROWS.toLocaleString('en-US')} events in one insert_events call / one insertMany vs one INSERT ... SELECT into a plain table`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('produce_bulk');
    const client = await db.connect();
    try {
      await client.query(`CREATE TABLE plain_event (id bigserial PRIMARY KEY, type text, data text,
                            created timestamptz NOT NULL DEFAULT now())`);
      const freshQueue = async () => {
        await dropQueue(client, 'bench', { force: true }).catch(() => undefined);
        await createQueue(client, 'bench');
      };
      const events: NewEvent<EventSchemas>[] = [];
      for (let i = 0; i < BULK_ROWS; i++) events.push({ type: EVENT_TYPE, payload: payloadObject(i) });
      const producer = new Producer(client, { queue: 'bench' });

      const p = await pairedRates(
        ctx,
        'produce-bulk',
        ctx.runs,
        async () => {
          await client.query('TRUNCATE plain_event');
          await db.settle();
          return db.rateWithCpu(BULK_ROWS, () =>
            client.query(`INSERT INTO plain_event (type, data)
                          SELECT '${EVENT_TYPE}', ${payloadSql('g')} FROM generate_series(1, ${BULK_ROWS}) g`),
          );
        },
        {
          'insert_events (SQL arrays)': async () => {
            await freshQueue();
            await db.settle();
            return db.rateWithCpu(BULK_ROWS, () =>
              client.query(`SELECT pgferry.insert_events('bench', ARRAY['${EVENT_TYPE}'],
                              ARRAY(SELECT ${payloadSql('g')} FROM generate_series(1, ${BULK_ROWS}) g))`),
            );
          },
          'insertMany (TS)': async () => {
            await freshQueue();
            await db.settle();
            return db.rateWithCpu(BULK_ROWS, () => producer.insertMany(events));
          },
        },
      );
      const scale = { scale: BULK_ROWS };
      const tableNote = 'baseline table: (id bigserial PRIMARY KEY, type text, data text, created timestamptz DEFAULT now()), one autocommit statement; the event tables have no index';
      return [
        ratioRow('produce-bulk (SQL insert_events)', 'insert_events (SQL arrays)', p, 0.6, 'ev/s', {
          ...scale,
          notes: [tableNote, 'measured: one SELECT pgferry.insert_events(queue, ARRAY[type], ARRAY(SELECT payload FROM generate_series(...))), array built in the same statement'],
        }),
        ratioRow('produce-bulk (TS insertMany)', 'insertMany (TS)', p, 0.6, 'ev/s', {
          ...scale,
          notes: ['measured: Producer.insertMany of 1,000,000 {type, payload} objects (JSON encoding and transfer from Node included: from 2,000 events on, COPYed into the session event stage and moved into the queue by insert_events_staged)'],
        }),
      ];
    } finally {
      await client.end();
      await db.drop();
    }
  },
};
