/**
 * batch_event_sql with long transactions open: the exact-txid-list form for a transaction
 * far below the scanned range, folding for one close to it, the end snapshot's filter for
 * transactions still running, and the right events in every case.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  type Db,
  batchEvents,
  connect,
  connectMany,
  createQueue,
  endAll,
  finishBatch,
  insertEvent,
  nextBatch,
  register,
  rng,
  rows,
  tick,
  useDedicatedDatabase,
  value,
} from './helpers.js';

/** Open the consumer's next batch, return its SQL and events, and finish it. */
async function takeBatch(db: Db, queue: string, consumer: string) {
  const batch = await nextBatch(db, queue, consumer);
  expect(batch).not.toBeNull();
  const sql = await value<string>(db, 'SELECT pgferry.batch_event_sql($1)', [batch]);
  const events = await batchEvents(db, batch!);
  expect(await finishBatch(db, batch!)).toBe(1);
  return { batch: batch!, sql, data: events.map((e) => e.ev_data) };
}

async function openLong(url: string, queue: string, data: string): Promise<{ c: pg.Client; txid: string }> {
  const c = await connect(url);
  await c.query('BEGIN');
  await insertEvent(c, queue, 'long', data);
  return { c, txid: await value<string>(c, 'SELECT pg_current_xact_id()::text') };
}

/** Committed short transactions, one event each, in order. */
async function shortTx(db: Db, queue: string, prefix: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = `${prefix}${String(i).padStart(3, '0')}`;
    await insertEvent(db, queue, 'short', d);
    out.push(d);
  }
  return out;
}

describe('batch_event_sql', () => {
  const db = useDedicatedDatabase();

  it('lists a long transaction far below the range exactly, and the index on ev_txid serves the scan', async () => {
    const Q = 'longtx';
    const queueId = await createQueue(db.pool, Q);
    await register(db.pool, Q, 'c');
    const l1 = await openLong(db.url, Q, 'L1');
    const l2 = await openLong(db.url, Q, 'L2');
    try {
      const a = await shortTx(db.pool, Q, 'a', 130);
      await tick(db.pool, Q);
      // L1 and L2 are running at the end tick: filtered out by the end snapshot.
      let b = await takeBatch(db.pool, Q, 'c');
      expect(b.sql).toMatch(/AND pg_catalog\.pg_visible_in_snapshot\(ev_txid, '[0-9:,]+'::pg_catalog\.pg_snapshot\)/);
      expect(b.data).toEqual(a);

      await l1.c.query('COMMIT');
      const bb = await shortTx(db.pool, Q, 'b', 3);
      await tick(db.pool, Q);
      b = await takeBatch(db.pool, Q, 'c');
      // L1 finished more than the fold distance below the range: exact list, no widening.
      expect(b.sql).toContain(`ev_txid OPERATOR(pg_catalog.=) ANY ('{${l1.txid}}'::pg_catalog.xid8[])`);
      expect(b.sql).not.toContain('NOT pg_catalog.pg_visible_in_snapshot');
      const lo = /ev_txid OPERATOR\(pg_catalog\.>=\) '(\d+)'::pg_catalog\.xid8/.exec(b.sql);
      expect(BigInt(lo![1]!) - BigInt(l1.txid)).toBeGreaterThan(100n);
      expect(b.data).toEqual(['L1', ...bb]); // ordered by ev_id: L1 was inserted first

      // The planner can serve both parts from the ev_txid index, and reads one event table.
      const client = await connect(db.url);
      try {
        await client.query('BEGIN');
        await client.query('SET LOCAL enable_seqscan = off');
        await client.query('SET LOCAL enable_sort = off');
        const batch = await nextBatch(client, Q, 'c');
        expect(batch).toBeNull(); // nothing new; explain the finished batch's SQL instead
        const plan = (await rows<{ 'QUERY PLAN': string }>(client, `EXPLAIN ${b.sql}`))
          .map((r) => r['QUERY PLAN'])
          .join('\n');
        expect(plan).toMatch(/Index/);
        expect(plan).toMatch(/event_\d+_0_ev_txid_idx/);
        expect(plan).not.toContain(`event_${queueId}_1`);
        expect(plan).not.toContain(`event_${queueId}_2`);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }

      // L2 rolled back after many ticks: never delivered.
      await l2.c.query('ROLLBACK');
      const cc = await shortTx(db.pool, Q, 'c', 2);
      await tick(db.pool, Q);
      b = await takeBatch(db.pool, Q, 'c');
      expect(b.data).toEqual(cc);
    } finally {
      await l1.c.end();
      await l2.c.end();
    }
  });

  it('folds a finished transaction close below the range into it, still filtering what was already seen and what still runs', async () => {
    const Q = 'fold';
    await createQueue(db.pool, Q);
    await register(db.pool, Q, 'c');
    const l2 = await openLong(db.url, Q, 'L2');
    let l3: { c: pg.Client; txid: string } | undefined;
    try {
      const c = await shortTx(db.pool, Q, 'c', 5);
      await tick(db.pool, Q);
      let b = await takeBatch(db.pool, Q, 'c');
      expect(b.data).toEqual(c);

      await l2.c.query('COMMIT');
      l3 = await openLong(db.url, Q, 'L3');
      const d = await shortTx(db.pool, Q, 'd', 2);
      await tick(db.pool, Q);
      b = await takeBatch(db.pool, Q, 'c');
      // L2 is a few txids below the range: folded (no list), with the start snapshot
      // excluding the short transactions of the previous batch that the wider range covers.
      expect(b.sql).not.toContain('ev_txid OPERATOR(pg_catalog.=) ANY');
      expect(b.sql).toContain(`ev_txid OPERATOR(pg_catalog.>=) '${l2.txid}'::pg_catalog.xid8`);
      expect(b.sql).toContain('NOT pg_catalog.pg_visible_in_snapshot');
      // L3 is still running at the end tick.
      expect(b.sql).toMatch(/AND pg_catalog\.pg_visible_in_snapshot\(ev_txid, /);
      expect(b.data).toEqual(['L2', ...d]);

      await l3.c.query('COMMIT');
      await tick(db.pool, Q);
      b = await takeBatch(db.pool, Q, 'c');
      expect(b.data).toEqual(['L3']);
      expect(await nextBatch(db.pool, Q, 'c')).toBeNull();
    } finally {
      await l2.c.end();
      await l3?.c.end();
    }
  });

  it('keeps several long transactions apart: each lands whole in the batch of the tick after its commit', async () => {
    const Q = 'many_long';
    await createQueue(db.pool, Q);
    await register(db.pool, Q, 'c');
    const longs = await Promise.all(['M0', 'M1', 'M2', 'M3'].map((n) => openLong(db.url, Q, n)));
    try {
      for (const l of longs) await insertEvent(l.c, Q, 'long', 'x');
      const seen: string[][] = [];
      const expected: string[][] = [];
      // Commit them in reverse order of their txids, with short transactions and ticks between.
      for (let i = longs.length - 1; i >= 0; i--) {
        const s = await shortTx(db.pool, Q, `s${i}_`, i === 2 ? 120 : 7);
        await tick(db.pool, Q);
        seen.push((await takeBatch(db.pool, Q, 'c')).data as string[]);
        expected.push(s);
        await longs[i]!.c.query('COMMIT');
        await tick(db.pool, Q);
        seen.push((await takeBatch(db.pool, Q, 'c')).data as string[]);
        expected.push([`M${i}`, 'x']);
      }
      expect(seen).toEqual(expected);
    } finally {
      await Promise.all(longs.map((l) => l.c.end()));
    }
  });

  it('returns exactly the events visible at the end tick and not at the start tick, for every batch of a random history', async () => {
    const Q = 'oracle';
    await createQueue(db.pool, Q);
    await register(db.pool, Q, 'c');
    const rand = rng(4242);
    const conns = await connectMany(db.url, 6);
    const open = conns.map(() => false);
    try {
      for (let step = 0; step < 400; step++) {
        const r = rand();
        const i = Math.floor(rand() * conns.length);
        const c = conns[i]!;
        if (r < 0.45) {
          if (!open[i]) {
            await c.query('BEGIN');
            open[i] = true;
          }
          await insertEvent(c, Q, 't', `s${step}`);
        } else if (r < 0.6 && open[i]) {
          await c.query(rand() < 0.8 ? 'COMMIT' : 'ROLLBACK');
          open[i] = false;
        } else if (r < 0.8) {
          // burn txids: short transactions move xmax, so list txids fall below the fold distance or not
          for (let k = Math.floor(rand() * 60); k > 0; k--) await db.pool.query('SELECT pg_current_xact_id()');
        } else {
          await tick(db.pool, Q);
        }
      }
      for (let i = 0; i < conns.length; i++) if (open[i]) await conns[i]!.query('COMMIT');
      await tick(db.pool, Q);
      let batches = 0;
      let listForms = 0;
      for (;;) {
        const batch = await nextBatch(db.pool, Q, 'c');
        if (batch === null) break;
        batches++;
        const sql = await value<string>(db.pool, 'SELECT pgferry.batch_event_sql($1)', [batch]);
        if (sql.includes('ev_txid OPERATOR(pg_catalog.=) ANY')) listForms++;
        const got = (await batchEvents(db.pool, batch)).map((e) => e.ev_id);
        const expected = (
          await rows<{ ev_id: string }>(
            db.pool,
            `SELECT e.ev_id FROM pgferry.event e, pgferry.get_batch_info($1) b,
                    pgferry.tick t1, pgferry.tick t2
              WHERE t1.tick_id = b.prev_tick_id AND t2.tick_id = b.tick_id
                AND pg_visible_in_snapshot(e.ev_txid, t2.tick_snapshot)
                AND NOT pg_visible_in_snapshot(e.ev_txid, t1.tick_snapshot)
              ORDER BY e.ev_id`,
            [batch],
          )
        ).map((e) => e.ev_id);
        expect(got, `batch ${batch}: ${sql}`).toEqual(expected);
        expect(await finishBatch(db.pool, batch)).toBe(1);
      }
      expect(batches).toBeGreaterThan(30);
      expect(listForms).toBeGreaterThan(0);
    } finally {
      await endAll(conns);
    }
  });
});
