/**
 * Apply a batch's events on the subscriber, in the caller's transaction.
 *
 * The common case is coalesced: events are read from the provider (a cursor: bounded
 * memory), those of the tables `route` maps are coalesced per key and applied in bulk,
 * flushing whenever too many distinct keys are held. A flush runs while the next events are
 * read (the two servers work at once); one flush at a time, in order, so at most two
 * generations of keys are held.
 *
 * Coalescing keeps each key's end state but not the order between keys, and a history can
 * depend on it: swapping a UNIQUE value between two rows, deleting a parent before its
 * child, moving a value from one row to another. When the bulk apply hits such a constraint
 * (unique, exclusion, foreign key), the batch is undone to a savepoint and applied again
 * event by event in the provider's order, where each change was valid when it was made.
 * Within one provider transaction, the rows of a single statement may have been checked in
 * an order its events do not keep: an event that still conflicts is retried once the other
 * events of its transaction are in. Deferrable constraints are deferred to the commit.
 */
import createDebug from 'debug';
import type pg from 'pg';
import { streamBatchEvents, type RawEvent } from '@pgferry/queue';
import { applyEvent, applyTableChanges, addApplyResult, batchStatements, emptyApplyResult, type ApplyResult } from '../handlers/row.js';
import { Coalescer } from './coalesce.js';
import { ApplyError } from '../errors.js';
import type { SubscribedTable } from '../state/subscribed-table.js';

const debug = createDebug('pgferry:replicator:apply');

export interface BatchApplyResult {
  /** Events read (all tables). */
  events: number;
  /** Events of routed tables. */
  applied: number;
  total: ApplyResult;
  perTable: Map<string, ApplyResult>;
  /** The batch was applied event by event (its coalesced apply hit an ordering constraint). */
  ordered: boolean;
}

export interface BatchApplyOptions {
  provider: pg.Pool;
  subscriber: pg.ClientBase;
  batchId: string;
  /** The subscriber table an event goes to, or undefined to skip it. */
  route: (ev: RawEvent) => SubscribedTable | undefined;
  fetchSize?: number;
  maxKeys?: number;
  /** Longest wait for one fetch from the provider (ms): see streamBatchEvents. */
  readTimeoutMs?: number;
}

/** SQLSTATEs of constraints whose outcome can depend on the order of changes. */
const ORDER_SENSITIVE = new Set(['23505', '23P01', '23503']);

export async function applyBatch(o: BatchApplyOptions): Promise<BatchApplyResult> {
  await o.subscriber.query('SET CONSTRAINTS ALL DEFERRED');
  await o.subscriber.query('SAVEPOINT pgferry_batch');
  let result: BatchApplyResult;
  try {
    result = await applyCoalesced(o);
  } catch (err) {
    if (!(err instanceof ApplyError) || !ORDER_SENSITIVE.has(err.code ?? '')) throw err;
    debug('batch %s: %s; applying it again in the provider\'s order', o.batchId, err.message);
    await o.subscriber.query('ROLLBACK TO SAVEPOINT pgferry_batch');
    result = await applyInOrder(o);
  }
  await o.subscriber.query('RELEASE SAVEPOINT pgferry_batch');
  return result;
}

/** An event and the subscriber table it goes to. */
interface Routed {
  ev: RawEvent;
  table: SubscribedTable;
}

function newResult(ordered: boolean): BatchApplyResult {
  return { events: 0, applied: 0, total: emptyApplyResult(), perTable: new Map(), ordered };
}

function addTableResult(result: BatchApplyResult, source: string, r: ApplyResult): void {
  addApplyResult(result.total, r);
  const acc = result.perTable.get(source) ?? emptyApplyResult();
  addApplyResult(acc, r);
  result.perTable.set(source, acc);
}

/**
 * Read the batch from the provider in one transaction, handing each chunk's routed events
 * to `onChunk` (checked: a known type, a key and an image). On an error, `onError` lets
 * subscriber work in flight settle before the error is thrown.
 */
async function readBatch(
  o: BatchApplyOptions,
  result: BatchApplyResult,
  onChunk: (routed: Routed[]) => Promise<void>,
  onError: () => Promise<void>,
): Promise<void> {
  const pc = await o.provider.connect();
  const ignore = () => undefined;
  pc.on('error', ignore);
  let broken: Error | undefined;
  try {
    await pc.query('BEGIN');
    for await (const chunk of streamBatchEvents(pc, o.batchId, o.fetchSize ?? 2000, { readTimeoutMs: o.readTimeoutMs })) {
      const routed: Routed[] = [];
      for (const ev of chunk) {
        result.events++;
        const table = o.route(ev);
        if (!table) continue;
        result.applied++;
        if (ev.type === 'I' || ev.type === 'U' || ev.type === 'D') {
          if (ev.extra2 === null || ev.data === null) {
            throw new ApplyError(table.dest, null, ev.id, `event ${ev.id} of type ${ev.type} has no key or row image`);
          }
        } else if (ev.type !== 'T') {
          throw new ApplyError(table.dest, ev.extra2, ev.id, `unknown event type ${JSON.stringify(ev.type)}`);
        }
        routed.push({ ev, table });
      }
      await onChunk(routed);
    }
    await pc.query('COMMIT');
  } catch (err) {
    if (err instanceof Error && !(err instanceof ApplyError)) broken = err;
    await pc.query('ROLLBACK').catch(() => undefined);
    await onError(); // the subscriber client is the caller's: leave it idle
    throw err;
  } finally {
    pc.off('error', ignore);
    pc.release(broken);
  }
}

async function applyCoalesced(o: BatchApplyOptions): Promise<BatchApplyResult> {
  let coalescer = new Coalescer();
  const tables = new Map<string, SubscribedTable>();
  const result = newResult(false);
  const maxKeys = o.maxKeys ?? 20_000;
  const statements = batchStatements(o.subscriber);

  const apply = async (generation: Coalescer) => {
    for (const [source, changes] of generation.tables) {
      addTableResult(result, source, await applyTableChanges(o.subscriber, tables.get(source)!, changes, statements));
    }
  };
  // The flush in flight, and its error (seen at the next flush or at the end).
  let inflight: Promise<void> = Promise.resolve();
  let failed: { err: unknown } | undefined;
  const flush = async () => {
    await inflight;
    if (failed) throw failed.err;
    const generation = coalescer;
    coalescer = new Coalescer();
    inflight = apply(generation).catch((err: unknown) => {
      failed = { err };
    });
  };

  await readBatch(
    o,
    result,
    async (routed) => {
      for (const { ev, table } of routed) {
        tables.set(table.source, table);
        if (ev.type === 'T') coalescer.truncate(table.source);
        else coalescer.change(table.source, ev.type as 'I' | 'U' | 'D', ev.extra2!, ev.data!, ev.id);
      }
      if (coalescer.size >= maxKeys) await flush();
    },
    () => inflight,
  );
  await flush();
  await inflight;
  if (failed) throw failed.err;
  return result;
}

async function applyInOrder(o: BatchApplyOptions): Promise<BatchApplyResult> {
  const result = newResult(true);
  const statements = batchStatements(o.subscriber);
  // Events of the current provider transaction that conflicted, to retry at its end.
  let deferred: Routed[] = [];
  let txid: string | null = null;

  const tryApply = async ({ ev, table }: Routed): Promise<'done' | 'conflict'> => {
    await o.subscriber.query('SAVEPOINT pgferry_event');
    try {
      addTableResult(result, table.source, await applyEvent(o.subscriber, table, ev, statements));
      await o.subscriber.query('RELEASE SAVEPOINT pgferry_event');
      return 'done';
    } catch (err) {
      await o.subscriber.query('ROLLBACK TO SAVEPOINT pgferry_event');
      if (err instanceof ApplyError && ORDER_SENSITIVE.has(err.code ?? '')) return 'conflict';
      throw err;
    }
  };
  const retryDeferred = async () => {
    while (deferred.length) {
      const left: Routed[] = [];
      for (const r of deferred) if ((await tryApply(r)) === 'conflict') left.push(r);
      if (left.length === deferred.length) {
        // No progress: this is a real conflict, not an order the batch lost. Report it.
        const { ev, table } = left[0]!;
        await applyEvent(o.subscriber, table, ev, statements);
      }
      deferred = left;
    }
  };

  await readBatch(
    o,
    result,
    async (routed) => {
      for (const r of routed) {
        if (r.ev.txid !== txid) {
          await retryDeferred();
          txid = r.ev.txid;
        }
        if ((await tryApply(r)) === 'conflict') deferred.push(r);
      }
    },
    async () => undefined,
  );
  await retryDeferred();
  return result;
}
