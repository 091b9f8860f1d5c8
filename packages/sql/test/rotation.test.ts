/**
 * Event table rotation: two-phase switch under live producers and consumers, refused while
 * a consumer lags behind the last switch (visible in get_queue_info, cut loose by
 * unregister_consumer), skipped on a lock conflict instead of waiting, never making a
 * producer wait; and the data horizon for register_consumer_at.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  type Delivery,
  type ReadMode,
  completeStep2,
  connect,
  connectMany,
  createQueue,
  curTable,
  dataOf,
  drain,
  endAll,
  expectSqlError,
  finishBatch,
  insertEvent,
  nextBatch,
  readBatch,
  register,
  rotate,
  rotateStep1,
  rotateStep2,
  sleep,
  tick,
  tickPastSwitch,
  until,
  useDedicatedDatabase,
  value,
} from './helpers.js';

async function fastRotation(db: pg.Pool, queue: string): Promise<void> {
  await db.query(`SELECT pgferry.set_queue_config($1, 'rotation_period', '10 milliseconds')`, [queue]);
}

describe('rotation', () => {
  // A server of its own: txids and snapshots are cluster-wide, so on the shared server
  // another test file's long transaction holds rotation back (CI saw it wait past a minute).
  const db = useDedicatedDatabase();

  it('loses and duplicates nothing while producers insert, consumers consume and tables rotate', async () => {
    const Q = 'rot_live';
    await createQueue(db.pool, Q, 3);
    await fastRotation(db.pool, Q);
    const consumers: { name: string; mode: ReadMode }[] = [
      { name: 'events', mode: 'events' },
      { name: 'cursor', mode: 'cursor' },
    ];
    for (const c of consumers) await register(db.pool, Q, c.name);
    const conns = await connectMany(db.url, 3 + 2 + 2);
    const [p0, p1, p2, ticker, maint, c0, c1] = conns as [pg.Client, ...pg.Client[]];
    const committed = new Set<string>();
    let producing = true;
    let finalTick = false;
    let rotations = 0;
    try {
      const produce = async (c: pg.Client, p: number) => {
        // At least 60 transactions, and on until the tables went round (a loaded machine
        // may produce the 60 before the fourth rotation: without events, no ticks move the
        // consumers past the switch and rotation would wait for the idle period).
        for (let j = 0; j < 60 || (rotations < 4 && j < 20_000); j++) {
          await c.query('BEGIN');
          const mine = [`${p}-${j}-a`, `${p}-${j}-b`];
          for (const d of mine) await insertEvent(c, Q, 't', d, `${p}-${j}`);
          if (j % 5 === 4) {
            await c.query('ROLLBACK');
          } else {
            await c.query('COMMIT');
            mine.forEach((d) => committed.add(d));
          }
          if (j % 7 === 0) await sleep(2);
        }
      };
      const ticks = async () => {
        while (producing) {
          await tick(ticker!, Q);
          await sleep(3);
        }
      };
      const maintain = async () => {
        while (producing) {
          if ((await rotateStep1(maint!, Q)) === 1) rotations++;
          await rotateStep2(maint!);
          await sleep(2);
        }
      };
      const consume = async (c: pg.Client, name: string, mode: ReadMode) => {
        const out: Delivery[] = [];
        for (;;) {
          const stopping = finalTick;
          const batch = await nextBatch(c, Q, name);
          if (batch === null) {
            if (stopping) return out;
            await sleep(2);
            continue;
          }
          out.push({ batch, events: await readBatch(c, batch, mode) });
          expect(await finishBatch(c, batch)).toBe(1);
        }
      };
      const background = Promise.all([ticks(), maintain()]);
      const consumed = Promise.all([consume(c0!, 'events', 'events'), consume(c1!, 'cursor', 'cursor')]);
      await Promise.all([produce(p0!, 0), produce(p1!, 1), produce(p2!, 2)]);
      // Keep rotating until the tables went round at least once.
      await until(async () => rotations >= 4, 'four rotations');
      producing = false;
      await background;
      await tick(db.pool, Q);
      finalTick = true;
      const results = await consumed;
      for (const r of results) {
        const got = dataOf(r);
        expect(new Set(got).size, 'no duplicates').toBe(got.length);
        expect(got).toEqual([...committed].sort());
      }
    } finally {
      producing = false;
      await endAll(conns);
    }
  });

  it('is refused while a consumer lags behind the last switch, names it, and unregistering cuts it loose', async () => {
    const Q = 'rot_lag';
    await createQueue(db.pool, Q, 3);
    await register(db.pool, Q, 'fast');
    await register(db.pool, Q, 'slow');
    await fastRotation(db.pool, Q);
    await insertEvent(db.pool, Q, 't', 'before');
    await tick(db.pool, Q);
    await rotate(db.pool, Q); // the first switch: nobody is behind a previous one
    expect(await curTable(db.pool, Q)).toBe(1);
    await insertEvent(db.pool, Q, 't', 'after');
    await tick(db.pool, Q);
    expect(dataOf(await drain(db.pool, Q, 'fast'))).toEqual(['after', 'before']);

    // 'slow' has not consumed past the switch: step 1 refuses, whatever the wait.
    await sleep(30);
    expect(await rotateStep1(db.pool, Q)).toBe(0);
    expect(await curTable(db.pool, Q)).toBe(1);
    // 'fast' may itself be held back by another session's transaction for a moment.
    await until(
      async () => {
        await tick(db.pool, Q);
        await drain(db.pool, Q, 'fast');
        const blocker = await value<string | null>(db.pool, 'SELECT rotation_blocked_by FROM pgferry.get_queue_info($1)', [Q]);
        return blocker === 'slow';
      },
      'rotation_blocked_by = slow',
    );
    expect(await rotateStep1(db.pool, Q)).toBe(0);
    const info = await value<string>(db.pool, `SELECT consumer_name FROM pgferry.get_consumer_info($1, 'slow')`, [Q]);
    expect(info).toBe('slow');

    // The operator cuts it loose.
    expect(await value<number>(db.pool, `SELECT pgferry.unregister_consumer($1, 'slow')`, [Q])).toBe(1);
    await rotate(db.pool, Q, () => drain(db.pool, Q, 'fast'));
    expect(await curTable(db.pool, Q)).toBe(2);
    // Once 'fast' is past this switch too, nothing blocks the next rotation.
    await until(async () => {
      await tick(db.pool, Q);
      await drain(db.pool, Q, 'fast');
      // rotation_blocked_by is NULL also while the rotation period has not passed yet.
      const { rows } = await db.pool.query(
        `SELECT rotation_blocked_by, now() >= queue_switch_time + queue_rotation_period AS due FROM pgferry.get_queue_info($1)`,
        [Q],
      );
      return rows[0].due && rows[0].rotation_blocked_by === null;
    }, 'nothing blocks rotation');
    expect(await rotateStep1(db.pool, Q)).toBe(1);
    await completeStep2(db.pool, Q);
    expect(await curTable(db.pool, Q)).toBe(0);
  });

  it('skips step 1 at once when the table to truncate is locked, and never makes a producer wait', async () => {
    const Q = 'rot_lock';
    const id = await createQueue(db.pool, Q, 3);
    await register(db.pool, Q, 'c');
    await fastRotation(db.pool, Q);
    const [locker, rotator, producer] = await connectMany(db.url, 3);
    try {
      // Any wait would be an error, not a hang.
      await rotator!.query(`SET lock_timeout = '10s'; SET statement_timeout = '10s'`);
      await producer!.query(`SET lock_timeout = '10s'; SET statement_timeout = '10s'`);
      await sleep(20);
      await locker!.query('BEGIN');
      await locker!.query(`LOCK TABLE pgferry.event_${id}_1 IN ACCESS SHARE MODE`);
      expect(await rotateStep1(rotator!, Q)).toBe(0);
      const waiting = await value<string>(
        db.pool,
        `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'pgferry.event_${id}_1'::regclass`,
      );
      expect(waiting).toBe('0');
      expect(await curTable(db.pool, Q)).toBe(0);
      await locker!.query('COMMIT');

      // A producer keeps inserting while step 1 holds its locks, and while step 2 is pending.
      await producer!.query('BEGIN');
      await insertEvent(producer!, Q, 't', 'p1');
      await rotator!.query('BEGIN');
      expect(await rotateStep1(rotator!, Q)).toBe(1);
      await insertEvent(producer!, Q, 't', 'p2'); // sees the old current table: no wait
      await insertEvent(db.pool, Q, 't', 'auto1');
      await rotator!.query('COMMIT');
      await insertEvent(producer!, Q, 't', 'p3'); // now the new table
      await insertEvent(db.pool, Q, 't', 'auto2');
      await tick(db.pool, Q);
      await completeStep2(rotator!, Q);
      await insertEvent(producer!, Q, 't', 'p4');
      await producer!.query('COMMIT');
      await tick(db.pool, Q);
      const tables = await value<number[]>(
        db.pool,
        `SELECT array_agg(DISTINCT ev_tbl ORDER BY ev_tbl) FROM pgferry.event WHERE ev_queue = $1`,
        [id],
      );
      expect(tables).toEqual([0, 1]);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['auto1', 'auto2', 'p1', 'p2', 'p3', 'p4']);
    } finally {
      await endAll([locker!, rotator!, producer!]);
    }
  });

  it('keeps events of a REPEATABLE READ producer whose snapshot predates the switch', async () => {
    const Q = 'rot_rr';
    await createQueue(db.pool, Q, 3);
    await register(db.pool, Q, 'c');
    await fastRotation(db.pool, Q);
    const rr = await connect(db.url);
    try {
      await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await rr.query('SELECT count(*) FROM pgferry.queue'); // its snapshot is taken here
      await sleep(20);
      expect(await rotateStep1(db.pool, Q)).toBe(1);
      await rotateStep2(db.pool);
      // Its txid is assigned only now, but its snapshot still shows the old current table.
      await insertEvent(rr, Q, 't', 'rr');
      expect(await value<number>(rr, `SELECT ev_tbl FROM pgferry.event WHERE ev_data = 'rr'`)).toBe(0);
      await tick(db.pool, Q);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual([]);
      await rr.query('COMMIT');
      await completeStep2(db.pool, Q);
      await tick(db.pool, Q);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['rr']);
    } finally {
      await rr.end();
    }
  });

  it('reads every event table a rewound consumer needs, and refuses ticks older than the data horizon', async () => {
    const Q = 'rot_rewind';
    await createQueue(db.pool, Q, 3);
    await register(db.pool, Q, 'main');
    await fastRotation(db.pool, Q);
    const consumers = ['main'];
    const catchUp = async () => {
      for (const c of consumers) await drain(db.pool, Q, c);
    };
    const start = await tick(db.pool, Q);
    const eraStart: string[] = [];
    for (const era of ['A', 'B', 'C']) {
      if (era !== 'A') await rotate(db.pool, Q, catchUp);
      eraStart.push(await tickPastSwitch(db.pool, Q));
      for (let i = 0; i < 3; i++) await insertEvent(db.pool, Q, 't', `${era}${i}`);
      await tick(db.pool, Q);
      await catchUp();
    }
    // Tables now: 0 = era A, 1 = B, 2 = C (current). Nothing truncated yet.
    expect(await curTable(db.pool, Q)).toBe(2);
    expect(await value<number>(db.pool, `SELECT pgferry.register_consumer_at($1, 'late', $2)`, [Q, start])).toBe(1);
    consumers.push('late');
    await tick(db.pool, Q);
    expect(dataOf(await drain(db.pool, Q, 'late'))).toEqual(['A0', 'A1', 'A2', 'B0', 'B1', 'B2', 'C0', 'C1', 'C2']);

    // The next switch truncates table 0 (era A): ticks from before era B are refused.
    await rotate(db.pool, Q, catchUp);
    expect(await curTable(db.pool, Q)).toBe(0);
    for (let i = 0; i < 3; i++) await insertEvent(db.pool, Q, 't', `D${i}`);
    await tick(db.pool, Q);
    const subsBefore = await value<string>(db.pool, 'SELECT count(*) FROM pgferry.subscription');
    const e = await expectSqlError(
      db.pool.query(`SELECT pgferry.register_consumer_at($1, 'later', $2)`, [Q, start]),
      'PF006',
      new RegExp(`queue "${Q}" no longer holds the events after tick ${start}`),
    );
    expect(e.hint).toMatch(/oldest tick it can start from is \d+/);
    expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.subscription')).toBe(subsBefore);
    // From the start of era B is still fine: B's table was not truncated.
    expect(await value<number>(db.pool, `SELECT pgferry.register_consumer_at($1, 'later', $2)`, [Q, eraStart[1]])).toBe(1);
    expect(dataOf(await drain(db.pool, Q, 'later'))).toEqual(['B0', 'B1', 'B2', 'C0', 'C1', 'C2', 'D0', 'D1', 'D2']);
  });

  it('grows the number of event tables: new tables join the cycle when it wraps, nothing is lost or truncated early', async () => {
    const Q = 'rot_grow';
    const id = await createQueue(db.pool, Q, 3);
    await register(db.pool, Q, 'main');
    await fastRotation(db.pool, Q);
    const seen: string[] = [];
    const catchUp = async () => {
      seen.push(...dataOf(await drain(db.pool, Q, 'main')));
    };
    const insert = async (name: string) => {
      for (let i = 0; i < 2; i++) await insertEvent(db.pool, Q, 't', `${name}${i}`);
      await tick(db.pool, Q);
    };
    const countIn = (t: number) => value<number>(db.pool, `SELECT count(*)::int FROM pgferry.event_${id}_${t}`);
    const setting = (v: string) => db.pool.query(`SELECT pgferry.set_queue_config($1, 'ntables', $2)`, [Q, v]);
    const ntables = () => value<number>(db.pool, 'SELECT queue_ntables FROM pgferry.get_queue_info($1)', [Q]);

    await insert('A'); // table 0
    await catchUp();
    await rotate(db.pool, Q, catchUp);
    await insert('B'); // table 1
    await rotate(db.pool, Q, catchUp);
    // 'main' gets past the switch to table 2 ...
    await tickPastSwitch(db.pool, Q);
    await catchUp();
    await insert('C'); // ... but does not read C, in table 2
    await rotate(db.pool, Q); // to table 0 (A truncated): 'main' still needs table 2
    expect(await curTable(db.pool, Q)).toBe(0);

    // Grown now, while the previous table (2) is still needed: the cycle keeps 3 tables
    // until it wraps, so table 2 is still "the one before table 0".
    expect(await setting('4')).toBeTruthy();
    expect(await value<number>(db.pool, `SELECT count(*)::int FROM pg_class WHERE relname = 'event_${id}_3'`)).toBe(1);
    expect(await ntables()).toBe(3);
    await insert('D'); // table 0
    await catchUp();
    expect(seen).toEqual(['A0', 'A1', 'B0', 'B1', 'C0', 'C1', 'D0', 'D1']);
    // Bad values change nothing.
    await expectSqlError(setting('3'), 'PF003', /queue "rot_grow" has 4 event tables: their number can only grow/);
    await expectSqlError(setting('33'), 'PF003', /invalid value for ntables/);
    await expectSqlError(setting('many'), 'PF003', /invalid value for ntables/);

    // 1, 2, then the new table 3 (not 0: D is still there), then 0.
    const order: number[] = [];
    for (const e of ['E', 'F', 'G', 'H']) {
      await rotate(db.pool, Q, catchUp);
      order.push(await curTable(db.pool, Q));
      if (e === 'G') expect(await countIn(0)).toBe(2);
      await insert(e);
    }
    expect(order).toEqual([1, 2, 3, 0]);
    expect(await ntables()).toBe(4);
    await catchUp();
    expect(seen.sort()).toEqual(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'].flatMap((x) => [`${x}0`, `${x}1`]));
  });
});
