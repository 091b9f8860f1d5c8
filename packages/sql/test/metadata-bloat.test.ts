/**
 * Metadata that does not bloat (migration 006): with a REPEATABLE READ snapshot held, many
 * batches (plain and cooperative consumers, idle polls, a rewind) leave no dead tuple in
 * any pgferry table: positions, open batches and ticks are only ever INSERTed and go by
 * TRUNCATE. The position log stays one rotation's worth of rows even while the snapshot is
 * held; once it is released and the event tables rotate, the old tick partitions are
 * truncated too. On a server of its own with autovacuum off, so that nothing else removes
 * dead tuples or writes statistics.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  connect,
  createQueue,
  dataOf,
  drain,
  insertEvent,
  register,
  rotate,
  rows,
  sleep,
  tick,
  useDedicatedDatabase,
  value,
} from './helpers.js';

interface TableStats {
  relname: string;
  n_tup_ins: string;
  n_tup_upd: string;
  n_tup_del: string;
  n_dead_tup: string;
}

/** Statistics of every table of schema pgferry (partitions included), as the server has them now. */
async function tableStats(db: pg.Pool): Promise<Map<string, TableStats>> {
  const c = await db.connect();
  try {
    await c.query('SELECT pg_stat_clear_snapshot()');
    const r = await c.query<TableStats>(
      `SELECT relname, n_tup_ins::text, n_tup_upd::text, n_tup_del::text, n_dead_tup::text
         FROM pg_stat_user_tables WHERE schemaname = 'pgferry'`,
    );
    return new Map(r.rows.map((s) => [s.relname, s]));
  } finally {
    c.release();
  }
}

const sum = (stats: Map<string, TableStats>, prefix: RegExp, col: keyof TableStats) =>
  [...stats.values()].filter((s) => prefix.test(s.relname)).reduce((n, s) => n + Number(s[col]), 0);

describe('metadata under a held snapshot', () => {
  const db = useDedicatedDatabase();

  it('gains no dead tuples per batch, and its rotated partitions are truncated', async () => {
    const Q = 'bloat';
    await createQueue(db.pool, Q, 2);
    const firstTick = await tick(db.pool, Q);
    for (const c of ['a', 'b']) await register(db.pool, Q, c);
    for (const s of ['w1', 'w2']) {
      expect(await value<number>(db.pool, `SELECT pgferry.register_subconsumer($1, 'coop', $2)`, [Q, s])).toBe(1);
    }

    // The snapshot: taken by a first query, held (no txid) until the end of the workload.
    const holder = await connect(db.url);
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT count(*) FROM pg_class');
    const heldXmin = await value<string>(holder, 'SELECT pg_snapshot_xmin(pg_current_snapshot())::text');

    // Workers on a pool of their own: ending it flushes their statistics (every version).
    const work = new pg.Pool({ connectionString: db.url, max: 4 });
    work.on('error', () => undefined);
    const ROUNDS = 60;
    let batches = 0;
    const delivered = new Map<string, string[]>();
    const record = (who: string, data: string[]) => delivered.set(who, [...(delivered.get(who) ?? []), ...data]);
    for (let i = 0; i < ROUNDS; i++) {
      await insertEvent(work, Q, 't', `e${i}`);
      await tick(work, Q);
      for (const c of ['a', 'b']) {
        const got = await drain(work, Q, c);
        batches += got.length;
        record(c, dataOf(got));
        // Idle polls: no new tick, nothing written.
        expect(await value(work, 'SELECT pgferry.next_batch($1, $2)', [Q, c])).toBeNull();
      }
      const sub = i % 2 === 0 ? 'w1' : 'w2';
      const b = await value<string | null>(work, `SELECT pgferry.next_batch($1, 'coop', $2)`, [Q, sub]);
      expect(b).not.toBeNull();
      record('coop', (await rows<{ ev_data: string }>(work, 'SELECT ev_data FROM pgferry.get_batch_events($1)', [b])).map((e) => e.ev_data));
      // The same batch until finished.
      expect(await value(work, `SELECT pgferry.next_batch($1, 'coop', $2)`, [Q, sub])).toBe(b);
      expect(await value<number>(work, 'SELECT pgferry.finish_batch($1)', [b])).toBe(1);
      batches++;
      if (i === ROUNDS / 2) {
        // A rewind (to a tick whose events are held) is a position change like any other.
        expect(await value<number>(work, 'SELECT pgferry.register_consumer_at($1, $2, $3)', [Q, 'b', firstTick])).toBe(1);
      }
      if (i % 10 === 9) {
        // Maintenance while the snapshot is held: the position log rotates anyway.
        await value(work, `SELECT pgferry.maint_rotate_metadata('0')`);
        await value(work, 'SELECT pgferry.maint_tick_cleanup($1)', [Q]);
      }
    }
    expect(batches).toBeGreaterThanOrEqual(3 * ROUNDS);
    const all = Array.from({ length: ROUNDS }, (_, i) => `e${i}`).sort();
    expect(delivered.get('a')!.sort()).toEqual(all);
    expect(delivered.get('coop')!.sort()).toEqual(all);
    // 'b' was rewound to the first tick halfway: it got the first half twice.
    expect(new Set(delivered.get('b'))).toEqual(new Set(all));
    expect(delivered.get('b')!.length).toBeGreaterThan(ROUNDS);

    // Positions: after two rotations only the carried-forward newest row of each of the
    // five subscriptions is left, and the other partitions are empty files.
    for (let i = 0; i < 2; i++) await value(work, `SELECT pgferry.maint_rotate_metadata('0')`);
    expect(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.subscription_pos')).toBe('5');
    const sizes = await rows<{ relname: string; pages: string; n: string }>(
      db.pool,
      `SELECT c.relname, (pg_relation_size(c.oid) / current_setting('block_size')::int)::text AS pages,
              (SELECT count(*) FROM pgferry.subscription_pos p WHERE p.tableoid = c.oid)::text AS n
         FROM pg_class c WHERE c.relnamespace = 'pgferry'::regnamespace AND c.relname ~ '^subscription_pos_[0-9]$'`,
    );
    expect(sizes.filter((s) => s.n === '0').every((s) => s.pages === '0')).toBe(true);
    expect(sizes.filter((s) => s.n !== '0').map((s) => s.pages)).toEqual(['1']);
    // The held snapshot still sees the state it started with.
    expect(await value<string>(holder, 'SELECT pg_snapshot_xmin(pg_current_snapshot())::text')).toBe(heldXmin);

    await work.end();
    // Wait until the statistics have every position row the workload wrote (two per batch
    // at least), then no table may have had an UPDATE or DELETE, or hold a dead tuple.
    let stats = await tableStats(db.pool);
    for (let t = 0; sum(stats, /^subscription_pos_/, 'n_tup_ins') < 2 * batches; t++) {
      if (t > 500) throw new Error('statistics did not arrive');
      await sleep(20);
      stats = await tableStats(db.pool);
    }
    for (const name of ['subscription_reg', 'consumer', 'queue', 'tick_0', 'tick_1', 'tick_2',
                        'subscription_pos_0', 'subscription_pos_1', 'subscription_pos_2']) {
      const s = stats.get(name);
      expect(s, name).toBeDefined();
      expect({ name, upd: s!.n_tup_upd, del: s!.n_tup_del, dead: s!.n_dead_tup }).toEqual({ name, upd: '0', del: '0', dead: '0' });
    }
    expect(sum(stats, /./, 'n_dead_tup')).toBe(0);

    // Release the snapshot: the event tables rotate, and the ticks their events needed go
    // with them, by TRUNCATE of whole partitions.
    await holder.query('COMMIT');
    await holder.end();
    const ticksBefore = Number(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.tick'));
    expect(ticksBefore).toBeGreaterThan(ROUNDS);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'rotation_period', '1 millisecond')`, [Q]);
    const drainAll = async () => {
      for (const c of ['a', 'b']) await drain(db.pool, Q, c);
      for (;;) {
        const b = await value<string | null>(db.pool, `SELECT pgferry.next_batch($1, 'coop', 'w1')`, [Q]);
        if (b === null) break;
        await db.pool.query('SELECT pgferry.finish_batch($1)', [b]);
      }
    };
    for (let i = 0; i < 3; i++) await rotate(db.pool, Q, drainAll);
    await insertEvent(db.pool, Q, 't', 'after');
    await tick(db.pool, Q);
    await drainAll();
    let removed = 0;
    for (let i = 0; i < 3; i++) removed += await value<number>(db.pool, 'SELECT pgferry.maint_tick_cleanup($1)', [Q]);
    const ticksAfter = Number(await value<string>(db.pool, 'SELECT count(*) FROM pgferry.tick'));
    expect(removed).toBeGreaterThan(ROUNDS);
    expect(ticksAfter).toBeLessThan(ticksBefore);
    // What is left is exactly what can still be used: each kept tick is a position or later,
    // or a permitted rewind.
    const useless = await value<string>(
      db.pool,
      `SELECT count(*) FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue
        WHERE t.tick_id < (SELECT min(sub_last_tick) FROM pgferry.subscription s WHERE s.sub_queue = q.queue_id)
          AND pg_snapshot_xmin(t.tick_snapshot) < q.queue_data_horizon`,
    );
    expect(useless).toBe('0');
    const truncated = await rows<{ relname: string }>(
      db.pool,
      `SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'pgferry'::regnamespace AND c.relname ~ '^tick_[0-9]$' AND pg_relation_size(c.oid) = 0`,
    );
    expect(truncated.length).toBeGreaterThan(0);

    // Everyone still gets exactly the next event.
    await insertEvent(db.pool, Q, 't', 'last');
    await tick(db.pool, Q);
    for (const c of ['a', 'b']) expect(dataOf(await drain(db.pool, Q, c))).toEqual(['last']);
    const b = await value<string>(db.pool, `SELECT pgferry.next_batch($1, 'coop', 'w2')`, [Q]);
    expect((await rows<{ ev_data: string }>(db.pool, 'SELECT ev_data FROM pgferry.get_batch_events($1)', [b])).map((e) => e.ev_data)).toEqual(['last']);
  });
});
