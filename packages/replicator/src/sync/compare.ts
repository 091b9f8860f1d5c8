/**
 * Online compare (and repair) of a replicated table: are the provider's table and its
 * subscriber copy equal, and if not, which keys differ?
 *
 * Both sides are read at the same logical point without locking writers: a tick is made
 * whose snapshot is exactly a provider reader's (tickAtReaderSnapshot), the subscription's
 * main stream is paused at that tick (it applies no batch ending after it; the pause
 * expires by itself), and once the subscriber has applied up to the tick, a subscriber
 * reader takes its snapshot and the pause is lifted. The two readers then see the same
 * history, while replication and the application go on. The tables are hashed
 * server-side on both sides at once, in parts (key ranges or row-hash buckets, see
 * table-hash.ts); only differing parts are read row by row, down to the differing keys.
 * The provider's hash starts as soon as its snapshot is taken, while the subscriber is
 * still catching up to the tick.
 *
 * Repair (`repair: true`) keeps the pause until it is done: the differing rows are copied
 * from the provider reader's snapshot into the subscriber table in one transaction, taken
 * while the subscriber is still at the tick, so the table then equals the provider's at
 * that tick and the stream goes on from there.
 */
import { pipeline } from 'node:stream/promises';
import createDebug from 'debug';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { capturedTable, sleep, tickAtReaderSnapshot, withClient } from '@pgferry/queue';
import { subscriberNode } from '../admin/nodes.js';
import { findTable } from '../admin/tables.js';
import { ReplicationSetupError, ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import { repairScript } from './repair-sql.js';
import {
  choosePartitioning,
  deleteKeys,
  differingParts,
  drill,
  partSums,
  pinValueSettings,
  rowHashFunction,
  rowsWithKeys,
  type DrilledRow,
  type HashedTable,
  type PartSum,
} from './table-hash.js';

const debug = createDebug('pgferry:replicator:compare');

export type ComparePhase = 'pausing' | 'waiting' | 'hashing' | 'drilling' | 'repairing' | 'done';

export interface CompareProgress {
  table: string;
  phase: ComparePhase;
  /** The tick both sides are read at (once made). */
  tick: string | null;
  /** While waiting: the subscriber's position. */
  subscriberTick: string | null;
  /** How the table is split: 'key ranges' or 'row-hash buckets' (once chosen). */
  partitioning: string | null;
  /** Parts that differ (after hashing). */
  differingParts: number | null;
  elapsedMs: number;
}

export interface CompareOptions {
  subscription: string;
  /** The table, by its provider or subscriber name. */
  table: string;
  /** Make the subscriber equal to the provider at the compared tick. */
  repair?: boolean;
  /** Instead: the fixes as an SQL script for review (see repair-sql.ts), in `repairSql`. */
  repairSql?: boolean;
  /** Parts the table is split into (about as many key ranges, or that many buckets: a power of two). Default 4096. */
  parts?: number;
  /** Longest wait for the subscriber to reach the compared tick (ms). Default 300000. */
  waitMs?: number;
  /** How long a pause lasts unless renewed (ms): what a compare that dies costs. Default 30000. */
  pauseMs?: number;
  /** At most this many keys are listed per kind of difference. Default 1000. */
  maxKeys?: number;
  onProgress?: (p: CompareProgress) => void;
}

export interface CompareResult {
  /** Source table (provider) and destination table (subscriber). */
  table: string;
  dest: string;
  /** The tick both sides were read at. */
  tick: string;
  providerRows: number;
  subscriberRows: number;
  equal: boolean;
  /** Keys (text form of the key as a row, e.g. `(42)`) on the provider only. */
  missing: string[];
  /** Keys on the subscriber only. */
  extra: string[];
  /** Keys whose rows differ. */
  changed: string[];
  /** More differing keys than listed (see maxKeys). */
  truncated: boolean;
  /** With repair: rows deleted and written on the subscriber. */
  repaired: { deleted: number; written: number } | null;
  /** With repairSql, when they differ: the script that makes the subscriber equal (run it on the subscriber). */
  repairSql: string | null;
  elapsedMs: number;
}

/** Compare a replicated table on both sides at one tick; with `repair`, fix the subscriber. */
export async function compareTable(provider: pg.Pool, subscriber: pg.Pool, o: CompareOptions): Promise<CompareResult> {
  const started = Date.now();
  const parts = o.parts ?? 4096;
  if (!Number.isInteger(Math.log2(parts)) || parts < 1 || parts > 1 << 20) {
    throw new ReplicationSetupError(`parts must be a power of two from 1 to 1048576, not ${parts}`);
  }
  const leaf = await subscriberNode(subscriber, o.subscription);
  const t = await findTable(subscriber, o.subscription, o.table);
  if (t.state !== 'ok') {
    throw new ReplicationSetupError(`table ${t.source} is ${t.state} in subscription "${o.subscription}": compare it once it is ok`);
  }
  if (t.handler !== 'row') {
    throw new ReplicationSetupError(`table ${t.source} lands through handler "${t.handler}", not as rows of the same shape: compare needs the row handler`);
  }
  if (t.mergeColumn !== null && o.repair) {
    throw new ReplicationSetupError(`table ${t.dest} is merged from several sources: compare it without repair (resync the source to repair it)`);
  }
  const filter = (await capturedTable(provider, leaf.queue, t.source))?.filter ?? null;
  const src: HashedTable = { relation: t.source, columns: t.columns, keyColumns: t.keyColumns, filter };
  // A merged table: this source's rows only.
  const own = t.mergeColumn === null ? null : `r.${pg.escapeIdentifier(t.mergeColumn)} OPERATOR(pg_catalog.=) ${pg.escapeLiteral(t.subscription)}::pg_catalog.text`;
  const dst: HashedTable = { relation: t.dest, columns: t.columns, keyColumns: t.keyColumns, filter: own };
  const progress: CompareProgress = { table: t.source, phase: 'pausing', tick: null, subscriberTick: null, partitioning: null, differingParts: null, elapsedMs: 0 };
  const report = (patch: Partial<CompareProgress>) => {
    Object.assign(progress, patch, { elapsedMs: Date.now() - started });
    if (patch.phase) debug('%s: %s after %d ms', t.source, patch.phase, progress.elapsedMs);
    o.onProgress?.({ ...progress });
  };
  const pause = new Pause(subscriber, o.subscription, o.pauseMs ?? 30_000);

  return withClient(provider, (pr) =>
    withClient(subscriber, async (sr) => {
      try {
        report({ phase: 'pausing' });
        // Stop the stream where it is, so that it cannot run past the tick made next.
        await pause.at(await pause.position());
        const { tickId } = await tickAtReaderSnapshot(provider, pr, leaf.queue);
        await pinValueSettings(pr);
        await pause.at(tickId);
        const fn = await rowHashFunction(pr, sr);
        const split = await choosePartitioning(pr, src, parts);
        report({ phase: 'waiting', tick: tickId, partitioning: split.kind });
        // The provider is hashed while the subscriber catches up.
        const providerSums = partSums(pr, src, split, fn);
        providerSums.catch(() => undefined); // awaited below; a failure of the wait comes first
        await waitForTick(subscriber, o.subscription, tickId, o.waitMs ?? 300_000, (at) => report({ subscriberTick: at }));
        await sr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        const at = (await sr.query<{ at_tick_id: string }>(sql('last_tick'), [o.subscription])).rows[0]?.at_tick_id;
        if (at !== tickId) throw new ReplicationStateError(`subscription "${o.subscription}" moved past tick ${tickId} while paused (at ${at})`);
        await pinValueSettings(sr);
        if (!o.repair) await pause.lift();

        report({ phase: 'hashing' });
        const [ps, ss] = await Promise.all([providerSums, partSums(sr, dst, split, fn)]);
        const differing = differingParts(ps, ss);
        report({ phase: 'drilling', differingParts: differing.length });
        const [ph, sh] = await Promise.all([drill(pr, src, split, fn, differing), drill(sr, dst, split, fn, differing)]);
        const missing = [...ph.keys()].filter((k) => !sh.has(k));
        const extra = [...sh.keys()].filter((k) => !ph.has(k));
        const changed = [...ph.keys()].filter((k) => sh.has(k) && sh.get(k)!.hash !== ph.get(k)!.hash);
        const count = (m: Map<string, PartSum>) => [...m.values()].reduce((n, b) => n + b.rows, 0);
        const values = (m: Map<string, DrilledRow>, keys: string[]) => keys.map((k) => m.get(k)!.key);
        const maxKeys = o.maxKeys ?? 1000;
        let repaired: CompareResult['repaired'] = null;
        if (o.repair && missing.length + extra.length + changed.length > 0) {
          report({ phase: 'repairing' });
          await sr.query('ROLLBACK'); // the repair writes in a transaction of its own, still at the tick
          repaired = await repair(pr, subscriber, o.subscription, tickId, src, dst, values(ph, [...missing, ...changed]), [...values(sh, extra), ...values(ph, changed)]);
        }
        let repairSql: string | null = null;
        if (o.repairSql && !o.repair && missing.length + extra.length + changed.length > 0) {
          repairSql = await repairScript(pr, {
            subscription: o.subscription,
            tick: tickId,
            src,
            dst,
            fromProvider: values(ph, [...missing, ...changed]),
            deleted: [...values(sh, extra), ...values(ph, changed)],
          });
        }
        const result: CompareResult = {
          table: t.source,
          dest: t.dest,
          tick: tickId,
          providerRows: count(ps),
          subscriberRows: count(ss),
          equal: missing.length + extra.length + changed.length === 0,
          missing: missing.slice(0, maxKeys),
          extra: extra.slice(0, maxKeys),
          changed: changed.slice(0, maxKeys),
          truncated: Math.max(missing.length, extra.length, changed.length) > maxKeys,
          repaired,
          repairSql,
          elapsedMs: Date.now() - started,
        };
        report({ phase: 'done' });
        debug('%s at tick %s: %s', t.source, tickId, result.equal ? 'equal' : `${missing.length} missing, ${extra.length} extra, ${changed.length} changed`);
        return result;
      } finally {
        await pause.lift().catch(() => undefined);
        await pr.query('ROLLBACK').catch(() => undefined);
        await sr.query('ROLLBACK').catch(() => undefined);
      }
    }),
  );
}

/** Wait until the subscription has applied `tick` (it cannot pass it: it is paused there). */
async function waitForTick(subscriber: pg.Pool, subscription: string, tick: string, waitMs: number, seen: (at: string | null) => void): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    const at = (await subscriber.query<{ at_tick_id: string | null }>(sql('last_tick'), [subscription])).rows[0]?.at_tick_id ?? null;
    seen(at);
    if (at !== null && BigInt(at) >= BigInt(tick)) return;
    if (Date.now() > until) {
      throw new ReplicationStateError(`subscription "${subscription}" did not reach tick ${tick} within ${waitMs} ms (it is at ${at ?? 'none'})`, {
        hint: 'is a worker serving it, and is its stream failing? (status)',
      });
    }
    await sleep(50);
  }
}

/**
 * Make the subscriber's rows of `fromProvider` keys equal to the provider reader's and
 * delete those of `deleted` keys, in one subscriber transaction that checks the stream is
 * still at `tick`. The provider's rows come through COPY (exact text forms).
 */
async function repair(
  pr: pg.ClientBase,
  subscriber: pg.Pool,
  subscription: string,
  tick: string,
  src: HashedTable,
  dst: HashedTable,
  fromProvider: string[][],
  deleted: string[][],
): Promise<{ deleted: number; written: number }> {
  return withClient(subscriber, async (sc) => {
    await sc.query('BEGIN');
    try {
      const at = (await sc.query<{ at_tick_id: string | null }>(sql('lock_applied_tick'), [subscription])).rows[0]?.at_tick_id;
      if (at !== tick) throw new ReplicationStateError(`subscription "${subscription}" moved past tick ${tick} before the repair (at ${at})`);
      await pinValueSettings(sc);
      const removed = deleted.length ? ((await sc.query(deleteKeys(dst, deleted))).rowCount ?? 0) : 0;
      let written = 0;
      if (fromProvider.length) {
        const cols = dst.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
        const out = pr.query(copyTo(`COPY (${rowsWithKeys(src, fromProvider)}) TO STDOUT`));
        const into = sc.query(copyFrom(`COPY ${dst.relation} (${cols}) FROM STDIN`));
        await pipeline(out, into);
        written = Number((into as unknown as { rowCount?: number }).rowCount ?? 0);
      }
      await sc.query('COMMIT');
      return { deleted: removed, written };
    } catch (err) {
      await sc.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }, { discardOn: () => true });
}

/** The main stream's pause at a tick (see migration 005), renewed while held. */
class Pause {
  private timer: NodeJS.Timeout | undefined;
  private tick: string | null = null;

  constructor(
    private readonly subscriber: pg.Pool,
    private readonly subscription: string,
    private readonly ms: number,
  ) {}

  /** The subscription's current position. */
  async position(): Promise<string> {
    const at = (await this.subscriber.query<{ at_tick_id: string | null }>(sql('last_tick'), [this.subscription])).rows[0];
    if (!at) throw new ReplicationStateError(`subscription "${this.subscription}" has no position on the subscriber`);
    return at.at_tick_id ?? '0';
  }

  async at(tick: string): Promise<void> {
    this.tick = tick;
    await this.write();
    this.timer ??= setInterval(() => void this.write().catch(() => undefined), Math.max(this.ms / 3, 100));
  }

  async lift(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tick === null) return;
    this.tick = null;
    await this.write();
  }

  private async write(): Promise<void> {
    await this.subscriber.query(sql('set_pause'), [this.subscription, this.tick, this.ms]);
  }
}

