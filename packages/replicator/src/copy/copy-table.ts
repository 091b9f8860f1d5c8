/**
 * The initial copy of a table: COPY out of a REPEATABLE READ snapshot on the provider,
 * COPY into the subscriber table (emptied first), in one subscriber transaction that also
 * records the snapshot and moves the table to 'catching-up'. A copy that fails or is
 * interrupted leaves the table 'in-copy': the next attempt starts over.
 *
 * Before the snapshot is taken, a catch-up consumer is registered at the main consumer's
 * position: every change the snapshot does not see is in a batch after that tick.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import createDebug from 'debug';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { ConnectionLostError, capturedTable, destroyConnection, withClient, getConsumerInfo, registerConsumerAt, unregisterConsumer, type Queryable } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import type { CopyHooks } from '../handlers/types.js';
import { dropForeignKeysForCopy } from '../admin/foreign-keys.js';

const debug = createDebug('pgferry:replicator:copy');

export interface CopyProgress {
  table: string;
  rows: number;
  bytes: number;
  /** Rows the provider's statistics expect (null when unknown). */
  estimatedRows: number | null;
  startedAt: Date;
  /** Rows per second so far. */
  rate: number;
  /** Seconds left at the current rate (null when unknown). */
  etaSeconds: number | null;
}

class CountingStream extends Transform {
  rows = 0;
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    // Text COPY: one line per row (newlines inside values are escaped).
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.rows++;
    cb(null, chunk);
  }
}

/**
 * The planner's row estimate for a query, for the copy's ETA: pg_class.reltuples once the
 * table was analyzed, else an estimate from its size (a table filled and copied before
 * autovacuum saw it has reltuples -1). Null when it cannot be had.
 */
async function estimateRows(db: Queryable, select: string): Promise<number | null> {
  try {
    const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`EXPLAIN (FORMAT JSON) ${select}`);
    const n = rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'];
    return typeof n === 'number' && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function progressOf(table: string, rows: number, bytes: number, estimatedRows: number | null, startedAt: Date): CopyProgress {
  const secs = Math.max((Date.now() - startedAt.getTime()) / 1000, 0.001);
  const rate = rows / secs;
  const eta = estimatedRows !== null && estimatedRows > 0 && rate > 0 ? Math.max(estimatedRows - rows, 0) / rate : null;
  return { table, rows, bytes, estimatedRows, startedAt, rate, etaSeconds: eta };
}

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
}

/** Copy one table. Returns the rows copied, or null when the table left 'in-copy' meanwhile. */
export async function copyTable(o: CopyTableOptions): Promise<number | null> {
  const { table } = o;
  const [main] = await getConsumerInfo(o.provider, o.queue, table.subscription);
  if (!main?.lastTick) {
    throw new ReplicationStateError(`subscription "${table.subscription}" is not registered on queue "${o.queue}"`, {
      hint: 'its consumer was unregistered on the provider: drop the leaf and create it again',
    });
  }
  await unregisterConsumer(o.provider, o.queue, o.copyConsumer, { ifExists: true });
  await registerConsumerAt(o.provider, o.queue, o.copyConsumer, main.lastTick);

  const filter = (await capturedTable(o.provider, o.queue, table.source))?.filter ?? null;
  const cols = table.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
  const where = filter ? ` AS r WHERE (${filter})` : '';
  const select = `SELECT ${cols} FROM ${table.source}${where}`;
  const estimated = await estimateRows(o.provider, select);

  // A connection in the middle of COPY cannot be reused: after any error both are discarded.
  const lastTick = main.lastTick;
  const discardOn = () => true;
  return withClient(o.provider, (pc) => withClient(o.subscriber, (sc) => copyOn(pc, sc), { discardOn }), { discardOn });

  async function copyOn(pc: pg.PoolClient, sc: pg.PoolClient): Promise<number | null> {
    const startedAt = new Date();
    const counter = new CountingStream();
    let lastBytes = -1;
    let lastMove = Date.now();
    let stalled = false;
    const timer = setInterval(() => {
      o.onProgress?.(progressOf(table.dest, counter.rows, counter.bytes, estimated, startedAt));
      if (counter.bytes !== lastBytes) {
        lastBytes = counter.bytes;
        lastMove = Date.now();
      } else if (o.stallMs !== undefined && Date.now() - lastMove > o.stallMs && !stalled) {
        stalled = true;
        debug('copy %s: no byte in %d ms; closing its connections', table.source, o.stallMs);
        destroyConnection(pc);
        destroyConnection(sc);
      }
    }, 500);
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
      clearInterval(timer); // no more bytes to watch: what follows is bounded by its queries' own limits
      await pc.query('COMMIT');
      await o.hooks.end?.({ client: sc, table }, into);
      const done = await sc.query(sql('copy_done'), [
        table.subscription,
        table.source,
        snapshot,
        lastTick,
        o.copyConsumer,
        counter.rows,
      ]);
      if (done.rowCount !== 1) throw new ReplicationStateError(`table ${table.source} left 'in-copy' during its copy (removed or resynced meanwhile)`);
      await sc.query('COMMIT');
      o.onProgress?.(progressOf(table.dest, counter.rows, counter.bytes, estimated, startedAt));
      debug('copied %s: %d rows, %d bytes', table.source, counter.rows, counter.bytes);
      return counter.rows;
    } catch (err) {
      if (stalled) throw new ConnectionLostError(`copy of ${table.source} stalled: no data moved in ${o.stallMs} ms; connections closed`, 'ETIMEDOUT');
      throw err;
    } finally {
      clearInterval(timer);
    }
  }
}
