/**
 * A rotation racing a producer, step by step, on a server of its own (txids are
 * cluster-wide: other test files' transactions would change the snapshots).
 *
 * The producer's transaction gets its txid after rotation step 1 got its own, writes its
 * first event into the old table (step 1 has not committed), and its second into the new
 * one. A snapshot's xmax is one past the latest *completed* txid, so step 2 taken now may
 * have an xmax at or below the producer's still-running txid: the switch must still count
 * that transaction as one that may have written to the old table.
 */
import { describe, expect, it } from 'vitest';
import {
  connectMany,
  createQueue,
  dataOf,
  drain,
  endAll,
  insertEvent,
  register,
  rotateStep1,
  rotateStep2,
  tick,
  useDedicatedDatabase,
  value,
} from './helpers.js';

describe('rotation racing a producer', () => {
  const db = useDedicatedDatabase();

  it('delivers both events of a transaction split across the switch', async () => {
    const Q = 'race';
    await createQueue(db.pool, Q, 3);
    await register(db.pool, Q, 'c');
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'rotation_period', '1 millisecond')`, [Q]);
    await new Promise((r) => setTimeout(r, 5));
    const [rotator, producer] = await connectMany(db.url, 2);
    try {
      await rotator!.query('BEGIN');
      expect(await rotateStep1(rotator!, Q)).toBe(1); // its txid is taken, not committed
      await producer!.query('BEGIN');
      await insertEvent(producer!, Q, 't', 'a'); // a later txid; reads the old current table
      await rotator!.query('COMMIT');
      await producer!.query('SELECT 1'); // between statements it holds no snapshot
      expect(await rotateStep2(db.pool)).toBe(1);
      await insertEvent(producer!, Q, 't', 'b'); // the new current table
      // The consumer moves to a tick taken while the producer runs, then past its commit.
      await tick(db.pool, Q);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual([]);
      await producer!.query('COMMIT');
      const tables = await value<number[]>(
        db.pool,
        `SELECT array_agg(ev_tbl ORDER BY ev_data) FROM pgferry.event
          WHERE ev_queue = (SELECT queue_id FROM pgferry.queue WHERE queue_name = $1)`,
        [Q],
      );
      expect(tables).toEqual([0, 1]);
      await tick(db.pool, Q);
      expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['a', 'b']);
    } finally {
      await endAll([rotator!, producer!]);
    }
  });
});
