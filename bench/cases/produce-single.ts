/**
 * produce-single: Producer.insert (pgferry.insert_event), one event per transaction on one
 * connection, against a plain single-row INSERT per transaction into a bigserial table.
 * Both sides send the same JSON payload as one parameterized statement in autocommit.
 */
import type pg from 'pg';
import { Producer, createQueue } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { interleavedRates, ratioRow } from '../lib/runner.js';
import { EVENT_TYPE, payloadJson, payloadObject, payloadSql } from '../lib/payload.js';
import { median, nowMs } from '../lib/stats.js';

const SECONDS_PER_SIDE = Number(process.env.BENCH_SINGLE_SECONDS ?? 3);
/** The sides take turns in slices this long (see interleavedRates). */
export const SLICE_MS = 200;
const LOOP_EVENTS = 20_000;

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
      const p = await interleavedRates(
        ctx,
        'produce-single',
        { runs: ctx.runs, sliceMs: SLICE_MS, msPerSide: SECONDS_PER_SIDE * 1000, beforeRun: () => db.settle() },
        () => client.query('INSERT INTO plain_event (type, data) VALUES ($1, $2)', [EVENT_TYPE, payloadJson(i++)]),
        { insert_event: () => producer.insert(EVENT_TYPE, payloadObject(i++)) },
      );
      const diag = await hotPathProfile(client, ctx.runs);
      return [
        ratioRow('produce-single', 'insert_event', p, 0.9, 'ev/s', {
          notes: [
            `one connection, autocommit, ${SECONDS_PER_SIDE} s per side per run in alternating ${SLICE_MS} ms slices; each commit waits for a WAL flush (fsync on)`,
            `profile, server-side loop of ${LOOP_EVENTS} in one transaction (no commit, no network), µs per row: ${diag.text}`,
          ],
          detail: {
            perRun: p.perRun,
            serverLoopMicrosPerRow: diag.micros,
          },
        }),
      ];
    } finally {
      await client.end();
      await db.drop();
    }
  },
};

/**
 * Where insert_event's server time goes: the same statements in a server-side loop inside
 * one transaction (no commit, no network, no client), peeling one layer at a time:
 * function call and queue lookup, partition routing (pgferry.event -> queue -> table), the
 * ev_txid index. Median of `runs` passes, µs per row.
 */
async function hotPathProfile(client: pg.Client, runs: number): Promise<{ text: string; micros: Record<string, number> }> {
  const { rows } = await client.query<{ id: number; cur: number; seq: string }>(
    `SELECT queue_id AS id, queue_cur_table AS cur, queue_event_seq::text AS seq FROM pgferry.queue WHERE queue_name = 'bench'`,
  );
  const qu = rows[0]!;
  await client.query('CREATE TABLE IF NOT EXISTS diag_heap (LIKE pgferry.event)');
  await client.query('CREATE TABLE IF NOT EXISTS diag_heap_idx (LIKE pgferry.event)');
  await client.query('CREATE INDEX IF NOT EXISTS diag_heap_idx_txid ON diag_heap_idx (ev_txid)');
  const cols = '(ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data)';
  const vals = `${qu.id}, ${qu.cur}, nextval('${qu.seq}'), now(), pg_current_xact_id(), '${EVENT_TYPE}', ${payloadSql('g')}`;
  // Variant (bench code, not the SQL layer): insert_event writing the queue's current event
  // table directly, one static INSERT per table chosen by IF, skipping tuple routing.
  const leafInsert = (t: number) =>
    `INSERT INTO pgferry.event_${qu.id}_${t} (ev_queue, ev_tbl, ev_id, ev_time, ev_txid, ev_type, ev_data)
       VALUES (v_queue_id, v_table, v_id, pg_catalog.now(), v_txid, i_ev_type, i_ev_data)`;
  await client.query(`CREATE OR REPLACE FUNCTION bench_insert_event_leaf(i_queue_name text, i_ev_type text, i_ev_data text)
    RETURNS bigint LANGUAGE plpgsql AS $fn$
    DECLARE v_txid xid8 := pg_catalog.pg_current_xact_id(); v_queue_id int; v_table int; v_seq regclass;
            v_disabled boolean; v_id bigint;
    BEGIN
      SELECT queue_id, queue_cur_table, queue_event_seq, queue_disable_insert
        INTO v_queue_id, v_table, v_seq, v_disabled FROM pgferry.queue WHERE queue_name = i_queue_name;
      IF NOT FOUND OR v_disabled THEN RAISE EXCEPTION 'no'; END IF;
      v_id := pg_catalog.nextval(v_seq);
      IF v_table = 0 THEN ${leafInsert(0)};
      ELSIF v_table = 1 THEN ${leafInsert(1)};
      ELSE ${leafInsert(2)};
      END IF;
      RETURN v_id;
    END $fn$`);
  const loop = (body: string) => `DO $$ BEGIN FOR g IN 1..${LOOP_EVENTS} LOOP ${body}; END LOOP; END $$`;
  const variants: [string, string][] = [
    ['plain INSERT (bigserial PK)', loop(`INSERT INTO plain_event (type, data) VALUES ('${EVENT_TYPE}', ${payloadSql('g')})`)],
    ['insert_event()', loop(`PERFORM pgferry.insert_event('bench', '${EVENT_TYPE}', ${payloadSql('g')})`)],
    ['variant: insert_event writing the current table directly', loop(`PERFORM bench_insert_event_leaf('bench', '${EVENT_TYPE}', ${payloadSql('g')})`)],
    ['its INSERT inline (routing + index)', loop(`INSERT INTO pgferry.event ${cols} VALUES (${vals})`)],
    ['same into one heap + ev_txid index (no routing)', loop(`INSERT INTO diag_heap_idx ${cols} VALUES (${vals})`)],
    ['same into one heap, no index', loop(`INSERT INTO diag_heap ${cols} VALUES (${vals})`)],
  ];
  const samples: Record<string, number[]> = {};
  for (let r = 0; r < runs; r++) {
    for (const [name, sql] of variants) {
      await client.query('BEGIN');
      const t0 = nowMs();
      await client.query(sql);
      const us = ((nowMs() - t0) * 1000) / LOOP_EVENTS;
      await client.query('ROLLBACK');
      (samples[name] ??= []).push(us);
    }
  }
  const micros = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const text = Object.entries(micros)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join('; ');
  return { text, micros };
}
