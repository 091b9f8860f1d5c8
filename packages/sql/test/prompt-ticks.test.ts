/**
 * Ticks that do not wait for traffic (issue 14): a transaction that was running at a tick
 * and commits later, and the last events of a burst a consumer waits for, are ticked at
 * once, not after ticker_idle_period or ticker_max_lag; an idle queue still gets no tick
 * from other transactions of the database; a consumer that is behind keeps getting its
 * events batched. And pending_age: how long the oldest event a consumer has yet to take
 * has been waiting, 0 when none is.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { connect, createQueue, dataOf, drain, insertEvent, nextBatch, register, rows, sleep, tick, value } from './helpers.js';

describe('prompt ticks', () => {
  const db = useTestDatabase();

  /** A queue whose count, lag and idle rules never fire during a test. */
  async function quietQueue(name: string): Promise<number> {
    const id = await createQueue(db.pool, name);
    for (const [k, v] of [['ticker_max_lag', '1 hour'], ['ticker_idle_period', '1 day'], ['ticker_max_count', '1000000']]) {
      await db.pool.query('SELECT pgferry.set_queue_config($1, $2, $3)', [name, k, v]);
    }
    return id;
  }
  const ticker = (q: string) => value<string | null>(db.pool, 'SELECT pgferry.ticker($1)', [q]);
  const tickCount = (id: number) => value<string>(db.pool, 'SELECT count(*) FROM pgferry.tick WHERE tick_queue = $1', [id]);

  /** A transaction left open on its own connection, after writing one event. */
  async function openWriter(q: string, data: string): Promise<{ c: pg.Client; txid: string }> {
    const c = await connect(db.url);
    await c.query('BEGIN');
    await insertEvent(c, q, 't', data);
    return { c, txid: await value<string>(c, 'SELECT pg_current_xact_id()::text') };
  }

  /** Some other transaction commits, so the writer's txid is below every later snapshot's xmax. */
  const commitSomethingElse = () => db.pool.query('SELECT pg_current_xact_id()');

  it('ticks at once when a transaction running at the last tick commits, and a consumer waits', async () => {
    const Q = 'late';
    await quietQueue(Q);
    await register(db.pool, Q, 'c');
    const w = await openWriter(Q, 'long');
    try {
      await commitSomethingElse();
      const t = await tick(db.pool, Q);
      expect(await value<boolean>(db.pool, `SELECT $1::xid8 IN (SELECT pg_snapshot_xip(tick_snapshot)) FROM pgferry.tick WHERE tick_id = $2`, [w.txid, t])).toBe(true);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual([]); // the consumer is at the newest tick
      expect(await ticker(Q)).toBeNull(); // still running: nothing to tick
      await w.c.query('COMMIT');
    } finally {
      await w.c.end();
    }
    // No event id was drawn since the last tick, max lag and idle period are an hour away:
    // PGQ's rules would wait for the idle period.
    expect(await ticker(Q)).not.toBeNull();
    expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['long']);
    expect(await ticker(Q)).toBeNull();
  });

  for (const bound of ['unknown', 'known'] as const) {
    it(`sees a transaction that was running at the tick at or past its snapshot's xmax (writers' bound ${bound})`, async () => {
      // A snapshot's xmax is one past the newest finished txid: a transaction that took its
      // txid (and wrote its events) just before the tick, with nothing finishing in between,
      // is not in the xip list. Such a last tick is set up by hand: its xmax is the writer's
      // txid, and its bound (a txid above its writers) unknown or the next one.
      const Q = `late_xmax_${bound}`;
      const id = await quietQueue(Q);
      await register(db.pool, Q, 'c');
      const w = await openWriter(Q, 'edge');
      try {
        const seq = await value<string>(db.pool, `SELECT pgferry._event_seq_value(queue_event_seq) FROM pgferry.queue WHERE queue_id = $1`, [id]);
        const t = await value<string>(
          db.pool,
          `INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq, tick_snapshot, tick_xid_bound)
           VALUES ($1, nextval('pgferry.tick_id_seq'), $2, ($3 || ':' || $3 || ':')::pg_snapshot,
                   CASE WHEN $4 THEN ($3::bigint + 1)::text::xid8 END) RETURNING tick_id`,
          [id, seq, w.txid, bound === 'known'],
        );
        await drain(db.pool, Q, 'c');
        expect(await value<string>(db.pool, `SELECT last_tick FROM pgferry.get_consumer_info($1, 'c')`, [Q])).toBe(t);
        await commitSomethingElse();
        expect(await ticker(Q)).toBeNull();
        await w.c.query('COMMIT');
      } finally {
        await w.c.end();
      }
      expect(await ticker(Q)).not.toBeNull();
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['edge']);
    });
  }

  it('ticks a transaction running across the two last ticks (no id drawn between them) when it commits', async () => {
    const Q = 'late_two';
    await quietQueue(Q);
    await register(db.pool, Q, 'c');
    const w = await openWriter(Q, 'long');
    try {
      await commitSomethingElse();
      await tick(db.pool, Q);
      await commitSomethingElse();
      await tick(db.pool, Q);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual([]);
      expect(await ticker(Q)).toBeNull();
      await w.c.query('COMMIT');
    } finally {
      await w.c.end();
    }
    expect(await ticker(Q)).not.toBeNull();
    expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['long']);
  });

  it('looks for late events through the ev_txid index, whatever the event table held when the ticker session first looked', async () => {
    // A ticker session keeps the generic plans of its lookups. Planned while the event
    // table was empty, an EXISTS read it whole once it had filled: 6-19 ms a round under
    // TPC-B (pg_stat_statements), for every round of every ticker.
    const Q = 'probe_plans';
    const id = await quietQueue(Q);
    await register(db.pool, Q, 'c');
    const tk = await connect(db.url);
    const txid = () => value<string>(db.pool, 'SELECT pg_current_xact_id()::text');
    /** A transaction running at a tick (writing n events) that commits after it, the consumer waiting: tk's ticker round looks it up. */
    const lateCommit = async (n: number) => {
      const w = await connect(db.url);
      try {
        await w.query('BEGIN');
        const x = await value<string>(w, 'SELECT pg_current_xact_id()::text');
        if (n) await w.query(`SELECT pgferry.insert_event($1, 't', 'x') FROM generate_series(1, $2)`, [Q, n]);
        await commitSomethingElse();
        await tick(db.pool, Q);
        await drain(db.pool, Q, 'c');
        await w.query('COMMIT');
        return x;
      } finally {
        await w.end();
      }
    };
    /** Whether events of txids from `lo` on, or of `late` (finished), are in the queue: both probes of _events_between. */
    const between = (late: string, lo: string) =>
      value<boolean>(tk, 'SELECT pgferry._events_between($1, $2::pg_snapshot, pg_current_snapshot())', [id, `${late}:${lo}:${late}`]);
    try {
      // First looks, at an empty queue: the plans are made.
      const y0 = await txid();
      expect(await between(y0, await lateCommit(0))).toBe(false);
      expect(await value(tk, 'SELECT pgferry.ticker($1)', [Q])).toBeNull();
      // 20,000 events later, the same lookups, counted on the queue's event tables.
      const y = await txid();
      const w = await lateCommit(20_000);
      await tk.query('BEGIN');
      const scans = () =>
        rows<{ seq: number; idx: number }>(
          tk,
          `SELECT coalesce(sum(seq_scan), 0)::int AS seq, coalesce(sum(idx_scan), 0)::int AS idx
             FROM pg_stat_xact_user_tables WHERE schemaname = 'pgferry' AND relname LIKE $1`,
          [`event\\_${id}\\_%`],
        );
      const [before] = await scans();
      expect(await value(tk, 'SELECT pgferry.ticker($1)', [Q])).not.toBeNull(); // the late commit: ANY (finished writers)
      expect(await between(y, w)).toBe(true); // y: a finished txid with no events (ANY), then the range from w
      const [after] = await scans();
      await tk.query('COMMIT');
      expect(after!.seq - before!.seq).toBe(0);
      expect(after!.idx - before!.idx).toBeGreaterThanOrEqual(3);
    } finally {
      await tk.end();
    }
  });

  it('ticks late commits after ticker_max_lag when no consumer waits', async () => {
    const Q = 'late_lag';
    await quietQueue(Q);
    await register(db.pool, Q, 'c');
    const w = await openWriter(Q, 'x');
    try {
      await commitSomethingElse();
      await tick(db.pool, Q);
      await tick(db.pool, Q); // "c" stays behind: not waiting
      await w.c.query('COMMIT');
    } finally {
      await w.c.end();
    }
    expect(await ticker(Q)).toBeNull(); // max lag (an hour) not reached
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_lag', '1 millisecond')`, [Q]);
    await sleep(5);
    expect(await ticker(Q)).not.toBeNull();
    expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['x']);
  });

  it('ticks the last events of a burst at once for a waiting consumer, and batches for one behind', async () => {
    const Q = 'burst';
    await quietQueue(Q);
    await register(db.pool, Q, 'c');
    await insertEvent(db.pool, Q, 't', 'a');
    await insertEvent(db.pool, Q, 't', 'b');
    expect(await ticker(Q)).not.toBeNull(); // "c" is at the newest tick: due at once
    expect(await ticker(Q)).toBeNull();

    // "c" has not taken that tick: it is behind, events gather under the count/lag rules.
    await insertEvent(db.pool, Q, 't', 'c');
    expect(await ticker(Q)).toBeNull();
    // Busy with a batch up to the newest tick: not waiting either.
    const b = await nextBatch(db.pool, Q, 'c');
    expect(b).not.toBeNull();
    expect(await ticker(Q)).toBeNull();
    await db.pool.query('SELECT pgferry.finish_batch($1)', [b]);
    // Caught up now: the events it has not seen are ticked at once.
    expect(await ticker(Q)).not.toBeNull();
    expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['c']);

    // A cooperative consumer waits when one of its sub-consumers holds no batch.
    await db.pool.query(`SELECT pgferry.register_subconsumer($1, 'co', 's1'), pgferry.register_subconsumer($1, 'co', 's2')`, [Q]);
    await db.pool.query(`SELECT pgferry.unregister_consumer($1, 'c')`, [Q]);
    await insertEvent(db.pool, Q, 't', 'd');
    expect(await ticker(Q)).not.toBeNull();
    const s1 = await value<string | null>(db.pool, `SELECT pgferry.next_batch($1, 'co', 's1')`, [Q]);
    expect(s1).not.toBeNull();
    await insertEvent(db.pool, Q, 't', 'e');
    expect(await ticker(Q)).not.toBeNull(); // s2 is idle
    const s2 = await value<string | null>(db.pool, `SELECT pgferry.next_batch($1, 'co', 's2')`, [Q]);
    expect(s2).not.toBeNull();
    await insertEvent(db.pool, Q, 't', 'f');
    expect(await ticker(Q)).toBeNull(); // both busy
    await db.pool.query('SELECT pgferry.finish_batch($1)', [s1]);
    expect(await ticker(Q)).not.toBeNull();
  });

  it('gives an idle queue no tick while other transactions of the database come and go', async () => {
    const Q = 'idle';
    const id = await quietQueue(Q);
    // Every new rule armed: a consumer at the newest tick, and a max lag that has passed.
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'ticker_max_lag', '1 millisecond')`, [Q]);
    await register(db.pool, Q, 'c');
    await createQueue(db.pool, 'busy');
    await db.pool.query('CREATE TABLE other (n int)');
    await tick(db.pool, Q);
    await drain(db.pool, Q, 'c');
    const before = await tickCount(id);
    const others = await Promise.all([connect(db.url), connect(db.url)]);
    try {
      for (let round = 0; round < 20; round++) {
        // A transaction open across a tick of this queue (in its xip list) and of another
        // queue, writing elsewhere; it commits or rolls back after the ticks.
        await others[0]!.query('BEGIN');
        await others[0]!.query('INSERT INTO other VALUES ($1)', [round]);
        await insertEvent(others[0]!, 'busy', 't', `${round}`);
        if (round % 4 === 0) {
          await commitSomethingElse();
          await tick(db.pool, Q); // forced: not counted below
          await drain(db.pool, Q, 'c');
        }
        await tick(db.pool, 'busy');
        expect(await ticker(Q)).toBeNull();
        await others[1]!.query('BEGIN');
        await others[1]!.query('INSERT INTO other VALUES ($1)', [round]);
        await others[0]!.query(round % 2 ? 'COMMIT' : 'ROLLBACK');
        await others[1]!.query('COMMIT');
        expect(await ticker(Q)).toBeNull();
        expect(await value<number>(db.pool, 'SELECT count(*)::int FROM pgferry.ticker_all() WHERE queue_name = $1', [Q])).toBe(0);
      }
    } finally {
      await Promise.all(others.map((c) => c.end()));
    }
    expect(Number(await tickCount(id))).toBe(Number(before) + 5);
  });

  it('does not tick for a transaction that was running at the tick and rolled back', async () => {
    const Q = 'rollback';
    const id = await quietQueue(Q);
    await register(db.pool, Q, 'c');
    const w = await openWriter(Q, 'gone');
    try {
      await commitSomethingElse();
      await tick(db.pool, Q);
      await drain(db.pool, Q, 'c');
      await w.c.query('ROLLBACK');
    } finally {
      await w.c.end();
    }
    const before = await tickCount(id);
    for (let i = 0; i < 5; i++) expect(await ticker(Q)).toBeNull();
    expect(await tickCount(id)).toBe(before);
  });

  it('makes no empty ticks while a transaction writes past ticker_max_count and ticker_max_lag; ticks its commit and other writers', async () => {
    const Q = 'still_writing';
    const id = await createQueue(db.pool, Q);
    for (const [k, v] of [['ticker_max_count', '10'], ['ticker_max_lag', '10 ms'], ['ticker_idle_period', '1 day']]) {
      await db.pool.query('SELECT pgferry.set_queue_config($1, $2, $3)', [Q, k, v]);
    }
    await register(db.pool, Q, 'c');
    await tick(db.pool, Q);
    const before = await tickCount(id);
    const w = await openWriter(Q, 'w0');
    try {
      for (let i = 1; i < 100; i++) await insertEvent(w.c, Q, 't', `w${i}`);
      await sleep(30);
      // 100 ids drawn, the lag passed: PGQ's rules are met, and nothing is committed.
      for (let i = 0; i < 5; i++) expect(await ticker(Q)).toBeNull();
      expect(await tickCount(id)).toBe(before);
      // A committed event: the next batch has one, so the count rule ticks.
      await insertEvent(db.pool, Q, 't', 'other');
      expect(await ticker(Q)).not.toBeNull();
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['other']);
      for (let i = 1; i < 100; i++) await insertEvent(w.c, Q, 't', `x${i}`);
      await sleep(30);
      expect(await ticker(Q)).toBeNull();
      await w.c.query('COMMIT');
    } finally {
      await w.c.end();
    }
    expect(await ticker(Q)).not.toBeNull();
    const got = dataOf(await drain(db.pool, Q, 'c'));
    const written = [...Array.from({ length: 100 }, (_, i) => `w${i}`), ...Array.from({ length: 99 }, (_, i) => `x${i + 1}`)];
    expect([...got].sort()).toEqual(written.sort());
    // Ids drawn by a transaction that rolled back make no tick either.
    const r = await connect(db.url);
    try {
      await r.query('BEGIN');
      for (let i = 0; i < 20; i++) await insertEvent(r, Q, 't', `r${i}`);
      await r.query('ROLLBACK');
    } finally {
      await r.end();
    }
    await sleep(30);
    const after = await tickCount(id);
    for (let i = 0; i < 5; i++) expect(await ticker(Q)).toBeNull();
    expect(await tickCount(id)).toBe(after);
  });

  it('times a tick after its snapshot: every event it holds committed before its time (a rewind to a time relies on it)', async () => {
    const Q = 'tick_time';
    await quietQueue(Q);
    await register(db.pool, Q, 'c');
    const ticker = await connect(db.url);
    try {
      // The ticking transaction begins, then an event commits, then the tick is made.
      await ticker.query('BEGIN');
      const began = await value<Date>(ticker, 'SELECT now()');
      await sleep(50);
      await insertEvent(db.pool, Q, 't', 'in the tick');
      const committed = await value<Date>(db.pool, 'SELECT clock_timestamp()');
      const t = await value<string>(ticker, 'SELECT pgferry.force_tick($1)', [Q]);
      await ticker.query('COMMIT');
      const at = await value<Date>(db.pool, 'SELECT tick_time FROM pgferry.tick WHERE tick_id = $1', [t]);
      expect(at.getTime()).toBeGreaterThan(began.getTime());
      expect(at.getTime()).toBeGreaterThanOrEqual(committed.getTime());
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['in the tick']);
    } finally {
      await ticker.end();
    }
  });

  describe('pending_age', () => {
    const info = (q: string, c: string) =>
      rows<{ lag: number; pending_age: number; now_minus: number | null }>(
        db.pool,
        `SELECT extract(epoch FROM lag)::float8 AS lag, extract(epoch FROM pending_age)::float8 AS pending_age
           FROM pgferry.get_consumer_info($1, $2)`,
        [q, c],
      ).then((r) => r[0]!);

    it('is 0 for a caught-up consumer on a quiet queue, whatever the tick lag', async () => {
      const Q = 'age_quiet';
      await quietQueue(Q);
      await register(db.pool, Q, 'c');
      await insertEvent(db.pool, Q, 't', 'x');
      await tick(db.pool, Q);
      await tick(db.pool, Q); // an empty tick after it
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['x']);
      await sleep(1100);
      const r = await info(Q, 'c');
      expect(r.lag).toBeGreaterThan(1);
      expect(r.pending_age).toBe(0);
      // Behind by empty ticks only: nothing pending either.
      await tick(db.pool, Q);
      await tick(db.pool, Q);
      expect((await info(Q, 'c')).pending_age).toBe(0);
      // Committed but not ticked: not pending for the consumer yet (the ticker's lag).
      await insertEvent(db.pool, Q, 't', 'y');
      expect((await info(Q, 'c')).pending_age).toBe(0);
    });

    it('grows for a lagging consumer, counted from the tick that brought its oldest event', async () => {
      const Q = 'age_lag';
      const id = await quietQueue(Q);
      await register(db.pool, Q, 'c');
      await register(db.pool, Q, 'fast');
      // Empty ticks first, then the one with an event, then more.
      await tick(db.pool, Q);
      await sleep(200);
      await tick(db.pool, Q);
      await insertEvent(db.pool, Q, 't', 'x');
      const withEvent = await tick(db.pool, Q);
      for (let i = 0; i < 5; i++) {
        await insertEvent(db.pool, Q, 't', `y${i}`);
        await tick(db.pool, Q);
      }
      await drain(db.pool, Q, 'fast');
      // pending_age is exactly the age of the tick that brought "x" (one transaction: one now()).
      const exact = await rows<{ ok: boolean; age: number }>(
        db.pool,
        `SELECT i.pending_age = now() - t.tick_time AS ok, extract(epoch FROM i.pending_age)::float8 AS age
           FROM pgferry.get_consumer_info($1, 'c') i, pgferry.tick t WHERE t.tick_queue = $2 AND t.tick_id = $3`,
        [Q, id, withEvent],
      );
      expect(exact[0]).toMatchObject({ ok: true });
      expect((await info(Q, 'fast')).pending_age).toBe(0);
      await sleep(300);
      const later = await info(Q, 'c');
      expect(later.pending_age).toBeGreaterThan(exact[0]!.age + 0.2);
      // Consumed: back to 0.
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['x', 'y0', 'y1', 'y2', 'y3', 'y4']);
      expect((await info(Q, 'c')).pending_age).toBe(0);
    });

    it('counts a transaction that was running at the consumer\'s position and committed later', async () => {
      const Q = 'age_late';
      await quietQueue(Q);
      await register(db.pool, Q, 'c');
      const w = await openWriter(Q, 'late');
      try {
        await commitSomethingElse();
        await tick(db.pool, Q);
        await drain(db.pool, Q, 'c');
        await w.c.query('COMMIT');
      } finally {
        await w.c.end();
      }
      expect((await info(Q, 'c')).pending_age).toBe(0);
      await tick(db.pool, Q);
      await sleep(50);
      expect((await info(Q, 'c')).pending_age).toBeGreaterThan(0);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['late']);
      expect((await info(Q, 'c')).pending_age).toBe(0);
    });
  });

  it('reads lags as zero, never negative, for a tick made after the reading transaction began', async () => {
    const Q = 'lag_sign';
    await quietQueue(Q);
    await register(db.pool, Q, 'c');
    await tick(db.pool, Q);
    const reader = await connect(db.url);
    try {
      await reader.query('BEGIN'); // READ COMMITTED: its now() is before the tick, its next statement sees it
      await reader.query('SELECT 1');
      await sleep(20);
      await insertEvent(db.pool, Q, 't', 'x');
      await tick(db.pool, Q);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['x']); // at the new tick
      const seconds = (sql: string, params: unknown[] = [Q]) => value<number>(reader, `SELECT extract(epoch FROM (${sql}))::float8`, params);
      expect(await seconds('SELECT ticker_lag FROM pgferry.get_queue_info($1)')).toBe(0);
      expect(await seconds(`SELECT lag FROM pgferry.get_consumer_info($1, 'c')`)).toBe(0);
      await reader.query('COMMIT');
      await reader.query('BEGIN');
      await reader.query('SELECT 1');
      await sleep(20);
      await insertEvent(db.pool, Q, 't', 'y');
      await tick(db.pool, Q);
      const batch = await nextBatch(db.pool, Q, 'c');
      expect(await seconds('SELECT lag FROM pgferry.get_batch_info($1)', [batch])).toBe(0);
      await reader.query('COMMIT');
    } finally {
      await reader.end();
    }
  });
});
