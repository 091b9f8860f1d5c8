/**
 * consume: the TypeScript Consumer (run(), events streamed through the batch cursor,
 * finish_batch in the batch's transaction) draining 1,000,000 events, once as 100 batches
 * of 10,000 and once as one batch of 1,000,000, against a raw pg-cursor SELECT of the same
 * rows (same columns, same fetch size) from Node.
 */
import Cursor from 'pg-cursor';
import { Consumer, createQueue, forceTick, registerConsumerAt, setQueueConfig, streamBatchEvents } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { EVENT_TYPE, payloadSql } from '../lib/payload.js';
import { BULK_ROWS } from './produce-bulk.js';

const SMALL_BATCH = 10_000;
/** Consumer default fetch size; the baseline cursor reads the same number of rows per round trip. */
const FETCH = 1000;
const COLUMNS = 'ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4';

export interface PreparedQueue {
  queue: string;
  startTick: string;
  /** The event tables holding the events (oldest first). */
  tables: string[];
}

/**
 * Fill a queue with `total` events in transactions of `perTick`, one tick after each;
 * `rotateAt` (an event count): switch to the next event table there, so that the events
 * span two tables as a long history does.
 */
export async function fillQueue(db: BenchDatabase, queue: string, total: number, perTick: number, options: { rotateAt?: number } = {}): Promise<PreparedQueue> {
  await createQueue(db.pool, queue);
  const startTick = await forceTick(db.pool, queue);
  const currentTable = async () =>
    (await db.pool.query<{ t: string }>(
      `SELECT format('pgferry.event_%s_%s', queue_id, queue_cur_table) AS t FROM pgferry.queue WHERE queue_name = $1`,
      [queue],
    )).rows[0]!.t;
  const tables = [await currentTable()];
  for (let done = 0; done < total; done += perTick) {
    if (options.rotateAt !== undefined && done >= options.rotateAt && tables.length === 1) {
      await setQueueConfig(db.pool, queue, { rotation_period: 1 });
      await new Promise((r) => setTimeout(r, 10));
      await db.pool.query('SELECT pgferry.maint_rotate_tables_step1($1)', [queue]);
      await db.pool.query('SELECT pgferry.maint_rotate_tables_step2()');
      await setQueueConfig(db.pool, queue, { rotation_period: '2 hours' });
      tables.push(await currentTable());
      if (tables[0] === tables[1]) throw new Error(`queue ${queue} did not rotate`);
    }
    const n = Math.min(perTick, total - done);
    await db.pool.query(
      `SELECT pgferry.insert_events($1, ARRAY['${EVENT_TYPE}'],
         ARRAY(SELECT ${payloadSql('g')} FROM generate_series(${done + 1}, ${done + n}) g))`,
      [queue],
    );
    await forceTick(db.pool, queue);
  }
  for (const t of tables) await db.pool.query(`VACUUM ANALYZE ${t}`);
  return { queue, startTick, tables };
}

/** Drain `expected` events with Consumer.run from the queue's start tick; returns events/s. */
export async function drain(db: BenchDatabase, q: PreparedQueue, expected: number): Promise<{ rate: number; cpuUsPerOp: number }> {
  await registerConsumerAt(db.pool, q.queue, 'bench', q.startTick);
  const consumer = new Consumer(db.pool, { queue: q.queue, name: 'bench', fetchSize: FETCH });
  const stop = new AbortController();
  let seen = 0;
  try {
    const t = await db.rateWithCpu(expected, () =>
      consumer.run(
        async (batch) => {
          for await (const ev of batch.events()) {
            if (ev.payload !== null) seen++;
          }
          if (seen >= expected) stop.abort();
        },
        { signal: stop.signal },
      ),
    );
    if (seen !== expected) throw new Error(`consumer saw ${seen} events, expected ${expected}`);
    return { rate: t.rate, cpuUsPerOp: t.cpuUsPerOp };
  } finally {
    await consumer.close();
  }
}

/** The baseline: a plain SELECT of the same rows and columns through pg-cursor. */
export async function rawCursor(
  db: BenchDatabase,
  q: PreparedQueue,
  expected: number,
  options: { orderBy?: boolean; parse?: boolean } = {},
): Promise<{ rate: number; cpuUsPerOp: number }> {
  const client = await db.connect();
  try {
    let n = 0;
    const t = await db.rateWithCpu(expected, async () => {
      const from = q.tables.map((t) => `SELECT ${COLUMNS} FROM ${t}`).join(' UNION ALL ');
      const sql = options.orderBy ? `SELECT * FROM (${from}) e ORDER BY ev_id` : from;
      const cursor = client.query(new Cursor<{ ev_data: string }>(sql));
      for (;;) {
        const rows = await cursor.read(FETCH);
        n += rows.length;
        if (options.parse) for (const r of rows) JSON.parse(r.ev_data);
        if (rows.length < FETCH) break;
      }
      await cursor.close();
    });
    if (n !== expected) throw new Error(`cursor read ${n} rows, expected ${expected}`);
    return { rate: t.rate, cpuUsPerOp: t.cpuUsPerOp };
  } finally {
    await client.end();
  }
}

/** Where a batch's time goes on the server: EXPLAIN ANALYZE of its SELECT (diagnostic). */
async function explainBatch(db: BenchDatabase, q: PreparedQueue, which: 'first' | 'only'): Promise<string[]> {
  const client = await db.connect();
  try {
    await registerConsumerAt(client, q.queue, 'explain', q.startTick);
    const { rows } = await client.query<{ b: string }>('SELECT pgferry.next_batch($1, $2) AS b', [q.queue, 'explain']);
    const sql = (await client.query<{ s: string }>('SELECT pgferry.batch_event_sql($1) AS s', [rows[0]!.b])).rows[0]!.s;
    const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`);
    await client.query('SELECT pgferry.finish_batch($1)', [rows[0]!.b]);
    await client.query('SELECT pgferry.unregister_consumer($1, $2)', [q.queue, 'explain']);
    return [`${which} batch SQL: ${sql.slice(0, 400)}`, ...plan.rows.map((r) => r['QUERY PLAN'])];
  } finally {
    await client.end();
  }
}

export const consume: BenchCase = {
  name: 'consume',
  summary: `TS consumer draining ${BULK_ROWS.toLocaleString('en-US')} events (batches of ${SMALL_BATCH.toLocaleString('en-US')}; one batch) vs raw pg-cursor SELECT`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('consume', { poolSize: 4 });
    try {
      ctx.log('consume: filling two queues (not timed) ...');
      const small = await fillQueue(db, 'q_small_batches', BULK_ROWS, SMALL_BATCH);
      const big = await fillQueue(db, 'q_one_batch', BULK_ROWS, BULK_ROWS);
      const p = await pairedRates(
        ctx,
        'consume',
        ctx.runs,
        async () => {
          await db.settle();
          return rawCursor(db, big, BULK_ROWS);
        },
        {
          [`batches of ${SMALL_BATCH}`]: async () => {
            await db.settle();
            return drain(db, small, BULK_ROWS);
          },
          'one batch': async () => {
            await db.settle();
            return drain(db, big, BULK_ROWS);
          },
        },
      );
      // Profile only what misses its target (it costs five more passes over 1M events).
      const missed = Object.values(p.ratios).some((r) => r < 0.8);
      const profile = missed ? await profileOneBatch(db, big) : { text: 'not run (target met)', rates: {} };
      ctx.log(`consume profile: ${profile.text}`);
      const planSmall = await explainBatch(db, small, 'first');
      const planBig = await explainBatch(db, big, 'only');
      const common = `Consumer.run, fetchSize ${FETCH}, payload JSON-decoded, finish_batch in the batch transaction; baseline: SELECT ${COLUMNS} FROM the event table via pg-cursor, read(${FETCH})`;
      return [
        ratioRow('consume (batches of 10k)', `batches of ${SMALL_BATCH}`, p, 0.65, 'ev/s', {
          scale: BULK_ROWS,
          notes: [common],
          detail: { plan: planSmall },
        }),
        ratioRow('consume (one 1M batch)', 'one batch', p, 0.65, 'ev/s', {
          scale: BULK_ROWS,
          notes: [`profile of the 1M batch (one pass each, events/s): ${profile.text}`],
          detail: { plan: planBig, profile: profile.rates },
        }),
      ];
    } finally {
      await db.drop();
    }
  },
};

/**
 * Where the consumer's time goes on the one-batch queue, layer by layer (one pass each):
 * the raw cursor; the same with the batch's ORDER BY ev_id; with JSON.parse of every
 * payload; the batch SQL through the low-level streamBatchEvents (pg-cursor); the Consumer.
 */
async function profileOneBatch(
  db: BenchDatabase,
  q: PreparedQueue,
): Promise<{ text: string; rates: Record<string, { rate: number; cpuUsPerOp: number }> }> {
  const rates: Record<string, { rate: number; cpuUsPerOp: number }> = {};
  await db.settle();
  rates['raw cursor'] = await rawCursor(db, q, BULK_ROWS);
  rates['+ ORDER BY ev_id'] = await rawCursor(db, q, BULK_ROWS, { orderBy: true });
  rates['+ ORDER BY + JSON.parse'] = await rawCursor(db, q, BULK_ROWS, { orderBy: true, parse: true });
  const client = await db.connect();
  try {
    await registerConsumerAt(client, q.queue, 'profile', q.startTick);
    const { rows } = await client.query<{ b: string }>('SELECT pgferry.next_batch($1, $2) AS b', [q.queue, 'profile']);
    const batch = rows[0]!.b;
    let n = 0;
    const t = await db.rateWithCpu(BULK_ROWS, async () => {
      await client.query('BEGIN');
      for await (const chunk of streamBatchEvents(client, batch, FETCH)) {
        for (const ev of chunk) if (ev.data !== null) JSON.parse(ev.data);
        n += chunk.length;
      }
      await client.query('SELECT pgferry.finish_batch($1)', [batch]);
      await client.query('COMMIT');
    });
    if (n !== BULK_ROWS) throw new Error(`streamBatchEvents read ${n} events`);
    rates['streamBatchEvents + JSON.parse + finish'] = { rate: t.rate, cpuUsPerOp: t.cpuUsPerOp };
    await client.query('SELECT pgferry.unregister_consumer($1, $2)', [q.queue, 'profile']);
  } finally {
    await client.end();
  }
  rates['Consumer.run'] = await drain(db, q, BULK_ROWS);
  const text = Object.entries(rates)
    .map(([k, v]) => `${k} ${Math.round(v.rate).toLocaleString('en-US')} ev/s (${v.cpuUsPerOp.toFixed(2)} µs CPU/ev)`)
    .join('; ');
  return { text, rates };
}
