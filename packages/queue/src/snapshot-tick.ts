/**
 * A tick at a reader's snapshot: a point where a queue's events and its database's tables
 * agree, for tools that read the tables "as of" a batch boundary (online compare).
 */
import type pg from 'pg';
import { q } from './db.js';
import { withTransaction } from './runtime/index.js';

export interface SnapshotTick {
  tickId: string;
  /** The snapshot (text form): the reader's, and the tick's. */
  snapshot: string;
}

/**
 * Open a REPEATABLE READ transaction on `reader` (a client of the queue's database, idle)
 * and make a tick of `queue` whose snapshot is exactly the reader's: everything the reader
 * sees of the tables is the effect of the events up to that tick, and nothing else. The
 * queue's tickers wait for the few milliseconds this takes (pgferry.tick_lock). The reader
 * stays in its transaction: the caller reads, then ends it.
 */
export async function tickAtReaderSnapshot(db: pg.Pool, reader: pg.ClientBase, queue: string): Promise<SnapshotTick> {
  return withTransaction(db, async (c) => {
    await q(c, 'SELECT pgferry.tick_lock($1)', [queue]);
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    try {
      const { rows } = await reader.query<{ s: string }>('SELECT pg_catalog.pg_current_snapshot()::text AS s');
      const snapshot = rows[0]!.s;
      const [tick] = await q<{ t: string }>(c, 'SELECT pgferry.tick_at_snapshot($1, $2::pg_catalog.pg_snapshot) AS t', [queue, snapshot]);
      return { tickId: tick!.t, snapshot };
    } catch (err) {
      await reader.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}
