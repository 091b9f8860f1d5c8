/**
 * The resumable copy: the table in key order, in chunks of `(k1, k2) > last key ORDER BY
 * k1, k2 LIMIT n`, each read at its own REPEATABLE READ snapshot on the provider and written
 * in its own subscriber transaction that also records the chunk's last key and snapshot
 * (progress and data commit together). A copy interrupted anywhere resumes after the last
 * committed key, at a new snapshot; only the chunk in flight is lost.
 *
 * Why the rows are exact although chunks see different snapshots (first S1, last Sn): the
 * catch-up consumer is registered before S1, so every change S1 does not see is in its
 * batches; those S1 saw are in every chunk (a later snapshot sees what an earlier one saw)
 * and are skipped. A change between S1 and Sn may be in the chunk of its key or not; the
 * catch-up applies those idempotently (a key's rows replaced by its last image, or deleted:
 * see applyRowsIdempotent), which lands each key on its state at Sn whatever its chunk saw.
 * Changes after Sn are in no chunk and are applied strictly, and the main stream takes the
 * table over only at a tick whose snapshot covers Sn (see worker/catchup.ts).
 *
 * Keys: the text forms read from the COPY stream under the replicator's pinned value
 * settings (VALUE_SETTINGS), cast back by the column's type: exact for every type whose
 * output reads back equal. Only keys whose types have a default btree ordering are chunked
 * (ORDER BY and `>` then agree); see chunkKeys.
 */
import { pipeline } from 'node:stream/promises';
import createDebug from 'debug';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { ConnectionLostError, withClient, type Queryable } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import type { RecordedTick } from '../stream/tick-identity.js';
import { dropForeignKeysForCopy } from '../admin/foreign-keys.js';
import { CopyMeter, copyLineFields } from './copy-stream.js';
import { StallWatch, progressOf } from './copy-progress.js';
import { copyConsumerAt, registerCopyConsumer } from './copy-consumer.js';
import type { CopySource, CopyTableOptions } from './copy-table.js';

const debug = createDebug('pgferry:replicator:copy');

/** A chunk aims at this many bytes of COPY text by default. */
export const DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024;
/** Bounds of a chunk's rows when sized by bytes. */
const MIN_CHUNK_ROWS = 10_000;
const MAX_CHUNK_ROWS = 10_000_000;

export interface KeyColumn {
  name: string;
  /** Schema-qualified type name (to cast a key's text form back). */
  type: string;
  /** Position among the replicated columns (the COPY's fields). */
  field: number;
}

/**
 * The table's key columns with their types, when its copy can be chunked: every key type has
 * a default btree ordering. Null otherwise (the copy runs in one transaction).
 */
export async function chunkKeys(provider: Queryable, table: SubscribedTable): Promise<KeyColumn[] | null> {
  const { rows } = await provider.query<{ name: string; type: string; orderable: boolean }>(sql('key_order'), [table.source, table.keyColumns]);
  if (rows.length !== table.keyColumns.length || rows.some((r) => !r.orderable)) {
    debug('%s: key (%s) has no btree ordering on the provider: one-transaction copy', table.source, table.keyColumns.join(', '));
    return null;
  }
  const keys = rows.map((r) => ({ name: r.name, type: r.type, field: table.columns.indexOf(r.name) }));
  return keys.some((k) => k.field < 0) ? null : keys;
}

/**
 * The SELECT of the chunk after `after` (null: the first): `limit` rows in key order, or
 * (limit null) all the rest in any order, a sequential scan (the last chunk).
 */
export function chunkSelect(source: CopySource, table: SubscribedTable, keys: KeyColumn[], after: string[] | null, limit: number | null): string {
  const keyList = keys.map((k) => pg.escapeIdentifier(k.name)).join(', ');
  const conditions: string[] = [];
  if (source.filter) conditions.push(`(${source.filter})`);
  if (after) conditions.push(`(${keyList}) > (${keys.map((k, i) => `${pg.escapeLiteral(after[i]!)}::${k.type}`).join(', ')})`);
  const from = source.filter ? `${table.source} AS r` : table.source;
  const where = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  return `SELECT ${source.cols} FROM ${from}${where}${limit === null ? '' : ` ORDER BY ${keyList} LIMIT ${limit}`}`;
}

interface Position {
  /** Last key committed (null: none yet). */
  lastKey: string[] | null;
  rows: number;
  resumes: number;
  resumedRows: number;
  /** The catch-up's tick (from the first chunk on). */
  tick: RecordedTick;
  firstSnapshot: string | null;
}

/**
 * Where this copy starts: after the recorded last key when the catch-up consumer is still
 * where the first chunk left it (counted as a resume), else from zero (consumer registered).
 */
async function startPosition(o: CopyTableOptions): Promise<Position> {
  const t = o.table;
  const recorded = t.copyTick ? { tickId: t.copyTick, time: t.copyTickTime, eventSeq: t.copyTickSeq } : null;
  if (t.copyLastKey && recorded && t.copyConsumer === o.copyConsumer && (await copyConsumerAt(o, o.copyConsumer, recorded))) {
    const r = await o.subscriber.query(sql('copy_resume'), [t.subscription, t.source, JSON.stringify(t.copyLastKey)]);
    if (r.rowCount === 1) {
      debug('copy %s resumes after key %j (%d rows committed)', t.source, t.copyLastKey, t.copiedRows);
      return {
        lastKey: t.copyLastKey,
        rows: t.copiedRows ?? 0,
        resumes: t.copyResumes + 1,
        resumedRows: t.copyResumedRows + (t.copiedRows ?? 0),
        tick: recorded,
        firstSnapshot: t.copySnapshot,
      };
    }
  }
  const tick = await registerCopyConsumer(o);
  return { lastKey: null, rows: 0, resumes: 0, resumedRows: 0, tick, firstSnapshot: null };
}

/** The chunk's rows: fixed, or those making about chunkBytes at the bytes per row seen so far. */
function chunkRows(o: CopyTableOptions, bytesPerRow: number | null): number {
  if (o.chunkRows !== undefined && o.chunkRows > 0) return o.chunkRows;
  if (!bytesPerRow) return MIN_CHUNK_ROWS * 10;
  return Math.min(Math.max(Math.round((o.chunkBytes ?? DEFAULT_CHUNK_BYTES) / bytesPerRow), MIN_CHUNK_ROWS), MAX_CHUNK_ROWS);
}

/** Copy the table in chunks. Returns the rows copied, or null when it left 'in-copy' meanwhile. */
export async function copyInChunks(o: CopyTableOptions, source: CopySource, keys: KeyColumn[]): Promise<number | null> {
  const { table } = o;
  const pos = await startPosition(o);
  const estimated = pos.lastKey ? (table.copyEstimate ?? source.estimate.rows) : source.estimate.rows;
  const rowsAtStart = pos.rows;
  // Bytes per row: the planner's width plus a separator per column until a chunk is seen.
  let bytesPerRow = source.estimate.width ? source.estimate.width + table.columns.length : null;
  const discardOn = () => true;
  return withClient(o.provider, (pc) => withClient(o.subscriber, (sc) => copyOn(pc, sc), { discardOn }), { discardOn });

  async function copyOn(pc: pg.PoolClient, sc: pg.PoolClient): Promise<number | null> {
    const startedAt = new Date();
    let meter = new CopyMeter();
    let bytes = 0;
    const report = () => {
      const p = progressOf(table.dest, pos.rows + meter.rows, bytes + meter.bytes, estimated, startedAt);
      // The rate and ETA of this attempt: the rows it copied, not those a resume kept.
      const secs = Math.max((Date.now() - startedAt.getTime()) / 1000, 0.001);
      p.rate = (pos.rows - rowsAtStart + meter.rows) / secs;
      p.etaSeconds = estimated !== null && p.rate > 0 ? Math.max(estimated - p.rows, 0) / p.rate : null;
      o.onProgress?.({ ...p, committedRows: pos.rows, resumes: pos.resumes, resumedRows: pos.resumedRows });
    };
    const watch = new StallWatch(table.source, () => bytes + meter.bytes, [pc, sc], o.stallMs, report);
    try {
      for (;;) {
        o.signal?.throwIfAborted();
        // What is left fits well in a chunk (by the estimate): copy it all as the last chunk,
        // unordered (a sequential scan is faster than walking the key's index).
        const rows = chunkRows(o, bytesPerRow);
        const left = estimated === null ? null : estimated - pos.rows;
        const limit = left !== null && left * 2 < rows ? null : rows;
        meter = new CopyMeter();
        const done = await copyChunk(pc, sc, limit, meter);
        if (done === 'gone') return null;
        bytes += meter.bytes;
        if (meter.rows) bytesPerRow = meter.bytes / meter.rows;
        watch.moved();
        if (done === 'last') {
          meter = new CopyMeter();
          report();
          debug('copied %s in chunks: %d rows (%d kept by %d resumes)', table.source, pos.rows, pos.resumedRows, pos.resumes);
          return pos.rows;
        }
      }
    } catch (err) {
      if (watch.stalled) throw new ConnectionLostError(`copy of ${table.source} stalled: no data moved in ${o.stallMs} ms; connections closed`, 'ETIMEDOUT');
      throw err;
    } finally {
      watch.stop();
    }
  }

  /** One chunk in its own transactions: 'more' to come, the 'last', or the table is 'gone'. */
  async function copyChunk(pc: pg.PoolClient, sc: pg.PoolClient, limit: number | null, meter: CopyMeter): Promise<'more' | 'last' | 'gone'> {
    // On an error both connections are discarded (withClient): their transactions end with them.
    await sc.query('BEGIN');
    {
      const st = await sc.query<{ st_state: string }>(sql('lock_subscriber_table'), [table.subscription, table.source]);
      if (st.rows[0]?.st_state !== 'in-copy') {
        await sc.query('ROLLBACK');
        return 'gone';
      }
      let into = table.dest;
      if (pos.lastKey === null) {
        // From zero: empty the table, take off its foreign keys, record the catch-up consumer.
        await sc.query(sql('copy_start'), [table.subscription, table.source, o.copyConsumer, pos.tick.tickId, estimated, pos.tick.time, pos.tick.eventSeq]);
        await dropForeignKeysForCopy(sc, table.subscription, table.dest, o.tables);
        into = await o.hooks.begin({ client: sc, table });
      } else {
        into = await o.hooks.resume!({ client: sc, table });
      }
      await sc.query(`SET LOCAL statement_timeout = 0`);
      await pc.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const snap = await pc.query<{ s: string }>(sql('current_snapshot'));
      const snapshot = snap.rows[0]!.s;
      await pc.query(`SET LOCAL statement_timeout = 0`);
      const select = chunkSelect(source, table, keys, pos.lastKey, limit);
      const out = pc.query(copyTo(`COPY (${select}) TO STDOUT`));
      const copyIn = sc.query(copyFrom(`COPY ${into} (${source.cols}) FROM STDIN`));
      await pipeline(out, meter, copyIn, { signal: o.signal });
      await pc.query('COMMIT');
      const last = limit === null || meter.rows < limit;
      // The key of the last row: where the next chunk starts (an unordered last chunk's is any
      // key, and copy_done clears it in this transaction).
      const lastKey = meter.lastLine ? copyLineFields(meter.lastLine, keys.map((k) => k.field)) : null;
      if (lastKey?.some((v) => v === null)) throw new ReplicationStateError(`copy of ${table.source}: a key column is null in the provider's rows`);
      const newKey = (lastKey as string[] | null) ?? pos.lastKey;
      const firstSnapshot = pos.firstSnapshot ?? snapshot;
      if (newKey !== null) {
        const rec = await sc.query(sql('copy_chunk_done'), [
          table.subscription, table.source, JSON.stringify(newKey), meter.rows, snapshot,
          pos.lastKey === null ? null : JSON.stringify(pos.lastKey),
        ]);
        if (rec.rowCount !== 1) throw new ReplicationStateError(`copy of ${table.source}: its recorded progress changed meanwhile (another copy, a resync)`);
      }
      if (last) {
        const done = await sc.query(sql('copy_done'), [
          table.subscription, table.source, firstSnapshot, pos.tick.tickId, o.copyConsumer, pos.rows + meter.rows, snapshot,
          pos.tick.time, pos.tick.eventSeq,
        ]);
        if (done.rowCount !== 1) throw new ReplicationStateError(`table ${table.source} left 'in-copy' during its copy (removed or resynced meanwhile)`);
      }
      await sc.query('COMMIT');
      pos.lastKey = newKey;
      pos.rows += meter.rows;
      pos.firstSnapshot = firstSnapshot;
      debug('copy %s: chunk of %d rows up to %j at %s', table.source, meter.rows, newKey, snapshot);
      return last ? 'last' : 'more';
    }
  }
}
