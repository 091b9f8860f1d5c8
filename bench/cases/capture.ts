/**
 * capture-single / capture-bulk: writes to a table with pgferry's capture triggers
 * (pgferry.capture_add_table, public SQL API) against the same writes to an identical
 * table without triggers. capture-single: one single-row INSERT per transaction on one
 * connection. capture-bulk: one INSERT ... SELECT of 1,000,000 rows.
 */
import type pg from 'pg';
import { createQueue } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { interleavedRates, notAvailable, pairedRates, ratioRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { payloadObject } from '../lib/payload.js';
import { BULK_ROWS } from './produce-bulk.js';
import { SLICE_MS } from './produce-single.js';

const SECONDS_PER_SIDE = Number(process.env.BENCH_SINGLE_SECONDS ?? 3);
const NEEDS = 'not available yet (needs capture triggers: pgferry.capture_add_table)';

/** An orders table whose row image is about 100 bytes of JSON, like the queue payload. */
const TABLE_DDL = (name: string) => `CREATE TABLE ${name} (
  id bigserial PRIMARY KEY, customer text NOT NULL, sku text NOT NULL, qty int NOT NULL,
  amount numeric(10,2) NOT NULL, note text)`;

/** Row values for INSERT ... SELECT over generate_series alias g. */
const ROWS_SQL = (n: number) => `SELECT 'cust-' || ((g::bigint * 7919) % 100000), 'SKU-' || ((g::bigint * 104729) % 1000000),
  (g % 9) + 1, round(((g::bigint * 37) % 100000) / 100.0, 2), 'benchmark payload' FROM generate_series(1, ${n}) g`;

async function captureAvailable(db: BenchDatabase): Promise<boolean> {
  const { rows } = await db.pool.query<{ ok: boolean }>(
    `SELECT to_regprocedure('pgferry.capture_add_table(text, text, text[], text[], text, text)') IS NOT NULL AS ok`,
  );
  return rows[0]?.ok === true;
}

/** Tables: orders_plain (no trigger), orders_stmt (statement-mode capture), orders_row (row-mode capture). */
async function setup(db: BenchDatabase): Promise<void> {
  await createQueue(db.pool, 'capture');
  for (const t of ['orders_plain', 'orders_stmt', 'orders_row']) await db.pool.query(TABLE_DDL(t));
  await db.pool.query(`SELECT pgferry.capture_add_table('capture', 'orders_stmt', i_mode => 'statement')`);
  await db.pool.query(`SELECT pgferry.capture_add_table('capture', 'orders_row', i_mode => 'row')`);
}

function insertOne(client: pg.Client, table: string, i: number): Promise<unknown> {
  const p = payloadObject(i);
  return client.query(`INSERT INTO ${table} (customer, sku, qty, amount, note) VALUES ($1, $2, $3, $4, $5)`, [
    p.customer,
    p.sku,
    p.qty,
    p.amount,
    p.note,
  ]);
}

export const captureSingle: BenchCase = {
  name: 'capture-single',
  summary: 'single-row INSERT per transaction into a captured table vs the same table without trigger',
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('capture_single');
    try {
      if (!(await captureAvailable(db))) return [notAvailable('capture-single', '≥ 0.80×', NEEDS)];
      await setup(db);
      const client = await db.connect();
      try {
        let i = 0;
        const side = (table: string) => () => insertOne(client, table, i++);
        const p = await interleavedRates(
          ctx,
          'capture-single',
          { runs: ctx.runs, sliceMs: SLICE_MS, msPerSide: SECONDS_PER_SIDE * 1000, beforeRun: () => db.settle() },
          side('orders_plain'),
          { statement: side('orders_stmt'), row: side('orders_row') },
        );
        const note = `one connection, autocommit, ${SECONDS_PER_SIDE} s per side per run in alternating ${SLICE_MS} ms slices; table (id bigserial PK, customer, sku, qty, amount numeric, note), row image ~110 bytes of JSON`;
        return [
          ratioRow('capture-single (statement trigger, default)', 'statement', p, 0.85, 'rows/s', { notes: [note] }),
          ratioRow('capture-single (row trigger)', 'row', p, 0.85, 'rows/s', {}),
        ];
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  },
};

export const captureBulk: BenchCase = {
  name: 'capture-bulk',
  summary: `one INSERT ... SELECT of ${BULK_ROWS.toLocaleString('en-US')} rows into a captured table vs without trigger`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const db = await (await ctx.server()).database('capture_bulk');
    try {
      if (!(await captureAvailable(db))) return [notAvailable('capture-bulk', '≥ 0.40×', NEEDS)];
      await setup(db);
      const side = (table: string) => async () => {
        // Empty the table and the queue's event tables so every run starts alike.
        await db.pool.query(`TRUNCATE ${table}`);
        await db.pool.query(`TRUNCATE pgferry.event`);
        await db.settle();
        return db.rateWithCpu(BULK_ROWS, () =>
          db.pool.query(`INSERT INTO ${table} (customer, sku, qty, amount, note) ${ROWS_SQL(BULK_ROWS)}`),
        );
      };
      const p = await pairedRates(ctx, 'capture-bulk', ctx.runs, side('orders_plain'), {
        statement: side('orders_stmt'),
      });
      const profile =
        p.ratios.statement! < 0.4 ? await profileCaptureBulk(db) : { text: 'not run (target met)', seconds: {} };
      ctx.log(`capture-bulk profile: ${profile.text}`);
      return [
        ratioRow('capture-bulk (statement trigger)', 'statement', p, 0.5, 'rows/s', {
          scale: BULK_ROWS,
          notes: [
            'one autocommit INSERT ... SELECT; the captured table gets one statement-level trigger call writing 1,000,000 events with INSERT ... SELECT from the transition table',
            `profile (server-side, one pass each, rolled back): ${profile.text}`,
          ],
          detail: { profileSeconds: profile.seconds },
        }),
      ];
    } finally {
      await db.drop();
    }
  },
};

/**
 * Where capture-bulk's time goes: the pieces of the trigger's INSERT ... SELECT timed one
 * by one over the same 1,000,000 rows (read from a plain table instead of the transition
 * table), each in a transaction that is rolled back.
 */
async function profileCaptureBulk(db: BenchDatabase): Promise<{ text: string; seconds: Record<string, { wall: number; cpu: number }> }> {
  const client = await db.connect();
  try {
    await client.query('TRUNCATE orders_plain');
    await client.query(`INSERT INTO orders_plain (customer, sku, qty, amount, note) ${ROWS_SQL(BULK_ROWS)}`);
    await client.query('VACUUM ANALYZE orders_plain');
    await client.query('CREATE TABLE IF NOT EXISTS ev_noindex (LIKE pgferry.event)');
    const { rows } = await client.query<{ id: number; cur: number; seq: string }>(
      `SELECT queue_id AS id, queue_cur_table AS cur, queue_event_seq::text AS seq FROM pgferry.queue WHERE queue_name = 'capture'`,
    );
    const qu = rows[0]!;
    // The image as the statement trigger of orders_stmt builds it: each column's text form,
    // as a ROW of the capture's composite type.
    const ct = await client.query<{ id: number; cols: string[] }>(
      `SELECT ct_id AS id, ct_columns AS cols FROM pgferry.capture_table WHERE ct_table_name = 'public.orders_stmt'`,
    );
    const { id: ctId, cols: captured } = ct.rows[0]!;
    const rowImage = `pg_catalog.row_to_json(ROW(${captured.map((c) => `r.${c}::text`).join(', ')})::pgferry.capture_${ctId}_image)::text`;
    const key = 'pg_catalog.json_build_array(r.id::text)::text';
    const image = `${rowImage}, 'public.orders', ${key}`;
    const cols = '(ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data, ev_extra1, ev_extra2)';
    const vals = `${qu.id}, ${qu.cur}, nextval('${qu.seq}'), now(), pg_current_xact_id(), 'I'`;
    const steps: [string, string][] = [
      ['copy of the rows into a plain table (no trigger)', `INSERT INTO orders_plain (customer, sku, qty, amount, note) SELECT customer, sku, qty, amount, note FROM orders_plain`],
      ['row images only (text forms + key, no write)', `SELECT sum(length(${rowImage}) + length(${key})) FROM orders_plain r`],
      ['events into an unindexed plain heap, ids without nextval', `INSERT INTO ev_noindex ${cols} SELECT ${vals.replace(`nextval('${qu.seq}')`, 'r.id')}, ${image} FROM orders_plain r`],
      ['events into an unindexed plain heap', `INSERT INTO ev_noindex ${cols} SELECT ${vals}, ${image} FROM orders_plain r`],
      ['events into pgferry.event (partition routing + ev_txid index)', `INSERT INTO pgferry.event ${cols} SELECT ${vals}, ${image} FROM orders_plain r`],
      ['whole captured INSERT (rows + trigger)', `INSERT INTO orders_stmt (customer, sku, qty, amount, note) SELECT customer, sku, qty, amount, note FROM orders_plain`],
    ];
    const seconds: Record<string, { wall: number; cpu: number }> = {};
    for (const [name, sql] of steps) {
      await db.settle();
      await client.query('BEGIN');
      const t = await db.rateWithCpu(BULK_ROWS, () => client.query(sql));
      await client.query('ROLLBACK');
      seconds[name] = { wall: t.sample.wallMs / 1000, cpu: t.sample.cpuMs / 1000 };
    }
    const text = Object.entries(seconds)
      .map(([k, v]) => `${k} ${v.wall.toFixed(2)} s (CPU ${v.cpu.toFixed(2)} s)`)
      .join('; ');
    return { text, seconds };
  } finally {
    await client.end();
  }
}
