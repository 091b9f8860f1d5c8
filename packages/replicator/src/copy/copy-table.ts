/**
 * The initial copy of a table. Where the table allows it, in key-range chunks that each
 * commit their progress (chunked-copy.ts: an interrupted copy resumes after its last key).
 * Else in one transaction: COPY out of a REPEATABLE READ snapshot on the provider, COPY into
 * the subscriber table (emptied first), in one subscriber transaction that also records the
 * snapshot and moves the table to 'catching-up'; such a copy that fails or is interrupted
 * leaves the table 'in-copy', and the next attempt starts over.
 *
 * Before the (first) snapshot is taken, a catch-up consumer is registered at the main
 * consumer's position: every change the snapshot does not see is in a batch after that tick.
 */
import { pipeline } from 'node:stream/promises';
import createDebug from 'debug';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { ConnectionLostError, capturedTable, unregisterConsumer, withClient } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import type { CopyHooks } from '../handlers/types.js';
import { dropForeignKeysForCopy } from '../admin/foreign-keys.js';
import { CopyMeter } from './copy-stream.js';
import { StallWatch, estimateRows, progressOf, type CopyProgress } from './copy-progress.js';
import { chunkKeys, copyInChunks } from './chunked-copy.js';
import { registerCopyConsumer } from './copy-consumer.js';

export { progressOf, type CopyProgress } from './copy-progress.js';

const debug = createDebug('pgferry:replicator:copy');

export interface CopyTableOptions {
  provider: pg.Pool;
  subscriber: pg.Pool;
  queue: string;
  table: SubscribedTable;
  /** Name of the catch-up consumer to register. */
  copyConsumer: string;
  /** How the copy lands (the table's handler's copy hooks; default: the row handler's). */
  hooks: CopyHooks;
  /** The subscription's tables (foreign keys to those not applied yet are taken off). */
  tables: SubscribedTable[];
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
  /**
   * A copy that moves no byte this long is stalled (a connection cut without an error, a
   * server that stopped answering): its connections are closed and it fails (ms). COPY
   * itself runs without statement_timeout (a big table takes long). Default: no bound.
   */
  stallMs?: number;
  /**
   * Rows per chunk of a chunked copy (see chunked-copy.ts); 0: copy in one transaction.
   * Default: as many as make about `chunkBytes`.
   */
  chunkRows?: number;
  /** The size a chunk aims at (COPY text bytes) when chunkRows is not given. Default 128 MiB. */
  chunkBytes?: number;
}

/** What both kinds of copy read: the replicated columns of the captured rows (its filter). */
export interface CopySource {
  cols: string;
  /** `FROM ... [AS r WHERE (filter)]`, without SELECT. */
  from: string;
  filter: string | null;
  estimate: { rows: number | null; width: number | null };
}

/**
 * Copy one table: in key-range chunks that survive a restart where the table allows it
 * (see chunked-copy.ts), else in one transaction. Returns the rows copied, or null when the
 * table left 'in-copy' meanwhile.
 */
export async function copyTable(o: CopyTableOptions): Promise<number | null> {
  const { table } = o;
  const filter = (await capturedTable(o.provider, o.queue, table.source))?.filter ?? null;
  const cols = table.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
  const from = filter ? `${table.source} AS r WHERE (${filter})` : table.source;
  const source: CopySource = { cols, from, filter, estimate: await estimateRows(o.provider, `SELECT ${cols} FROM ${from}`) };
  const keys = o.chunkRows === 0 || !o.hooks.resume || o.hooks.end ? null : await chunkKeys(o.provider, table);
  if (keys) return copyInChunks(o, source, keys);
  debug('copy %s in one transaction (chunks: %s)', table.source, o.chunkRows === 0 ? 'off' : 'not for this table');
  return copyWhole(o, source);
}

/** The copy in one transaction: COPY out of one snapshot, into the emptied table. */
async function copyWhole(o: CopyTableOptions, source: CopySource): Promise<number | null> {
  const { table } = o;
  const tick = await registerCopyConsumer(o);
  const { cols } = source;
  const select = `SELECT ${cols} FROM ${source.from}`;
  const estimated = source.estimate.rows;
  // A connection in the middle of COPY cannot be reused: after any error both are discarded.
  const discardOn = () => true;
  return withClient(o.provider, (pc) => withClient(o.subscriber, (sc) => copyOn(pc, sc), { discardOn }), { discardOn });

  async function copyOn(pc: pg.PoolClient, sc: pg.PoolClient): Promise<number | null> {
    const startedAt = new Date();
    const counter = new CopyMeter();
    const watch = new StallWatch(table.source, () => counter.bytes, [pc, sc], o.stallMs, () =>
      o.onProgress?.(progressOf(table.dest, counter.rows, counter.bytes, estimated, startedAt)),
    );
    try {
      await sc.query('BEGIN');
      const st = await sc.query<{ st_state: string }>(sql('lock_subscriber_table'), [table.subscription, table.source]);
      if (st.rows[0]?.st_state !== 'in-copy') {
        await sc.query('ROLLBACK');
        await unregisterConsumer(o.provider, o.queue, o.copyConsumer, { ifExists: true });
        return null;
      }
      await dropForeignKeysForCopy(sc, table.subscription, table.dest, o.tables);
      const into = await o.hooks.begin({ client: sc, table });
      await sc.query(`SET LOCAL statement_timeout = 0`);
      await pc.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The first statement fixes the transaction's snapshot: this is the one COPY reads.
      const snap = await pc.query<{ s: string }>(sql('current_snapshot'));
      const snapshot = snap.rows[0]!.s;
      await pc.query(`SET LOCAL statement_timeout = 0`);
      debug('copy %s -> %s from snapshot %s', table.source, table.dest, snapshot);
      const out = pc.query(copyTo(`COPY (${select}) TO STDOUT`));
      const copyIn = sc.query(copyFrom(`COPY ${into} (${cols}) FROM STDIN`));
      await pipeline(out, counter, copyIn, { signal: o.signal });
      watch.stop(); // no more bytes to watch: what follows is bounded by its queries' own limits
      await pc.query('COMMIT');
      await o.hooks.end?.({ client: sc, table }, into);
      const done = await sc.query(sql('copy_done'), [
        table.subscription,
        table.source,
        snapshot,
        tick.tickId,
        o.copyConsumer,
        counter.rows,
        snapshot,
        tick.time,
        tick.eventSeq,
      ]);
      if (done.rowCount !== 1) throw new ReplicationStateError(`table ${table.source} left 'in-copy' during its copy (removed or resynced meanwhile)`);
      await sc.query('COMMIT');
      o.onProgress?.(progressOf(table.dest, counter.rows, counter.bytes, estimated, startedAt));
      debug('copied %s: %d rows, %d bytes', table.source, counter.rows, counter.bytes);
      return counter.rows;
    } catch (err) {
      if (watch.stalled) throw new ConnectionLostError(`copy of ${table.source} stalled: no data moved in ${o.stallMs} ms; connections closed`, 'ETIMEDOUT');
      throw err;
    } finally {
      watch.stop();
    }
  }
}
