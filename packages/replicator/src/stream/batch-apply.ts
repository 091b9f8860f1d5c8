/**
 * Apply a batch's events on the subscriber, in the caller's transaction, through each
 * table's handler (see handlers/types.ts).
 *
 * The common case is coalesced: events are read from the provider (a cursor: bounded
 * memory), those of the tables `route` maps are coalesced per key and handed to the
 * tables' handlers, flushing whenever too many distinct keys are held. A flush runs while the next events are
 * read (the two servers work at once); one flush at a time, in order, so at most two
 * generations of keys are held.
 *
 * Coalescing keeps each key's end state but not the order between keys, and a history can
 * depend on it: swapping a UNIQUE value between two rows, deleting a parent before its
 * child, moving a value from one row to another. When the bulk apply hits such a constraint
 * (unique, exclusion, foreign key), the batch is undone to a savepoint and applied again
 * event by event in the provider's order, where each change was valid when it was made
 * (each event handed to its handler alone).
 * Within one provider transaction, the rows of a single statement may have been checked in
 * an order its events do not keep: an event that still conflicts is retried once the other
 * events of its transaction are in. Deferrable constraints are deferred to the commit.
 *
 * The first attempt takes no savepoint per statement (the batch's own is the only
 * subtransaction, whatever its size); a statement that fails or misses rows sends the batch
 * back to its savepoint, to be applied again with one per statement, which names the failing
 * key and counts the missing rows (see BatchScope.firstAttempt).
 */
import createDebug from 'debug';
import type pg from 'pg';
import { isConnectionError, type RawEvent } from '@pgferry/queue';
import { ApplyError, RedoBatch } from '../errors.js';
import type { HandlerRegistry } from '../handlers/registry.js';
import { addApplyResult, emptyApplyResult, type ApplyResult, type BatchScope, type HandlerContext } from '../handlers/types.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { ORDER_SENSITIVE, applyRowsIdempotent, rowTargetOf } from '../handlers/row.js';
import { primeShapes } from '../handlers/dest-shape.js';
import { Coalescer, type TableChanges } from './coalesce.js';
import { prepared } from '../sql.js';
import { readBatch, type Routed } from './read-batch.js';

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
  handlers: HandlerRegistry;
  fetchSize?: number;
  maxKeys?: number;
  /** Longest wait for one fetch from the provider (ms): see streamBatchEvents. */
  readTimeoutMs?: number;
  /** Log lines of the handlers. */
  log?: (level: 'info' | 'warn', message: string) => void;
  /**
   * Run an execute event (DDL) at its point of the batch: what came before it is applied
   * first. Without it, execute events are not delivered (a catch-up's stream).
   */
  execute?: (client: pg.ClientBase, ev: RawEvent) => Promise<void>;
}

export async function applyBatch(o: BatchApplyOptions): Promise<BatchApplyResult> {
  await o.subscriber.query('SET CONSTRAINTS ALL DEFERRED; SAVEPOINT pgferry_batch');
  const again = async (why: string) => {
    debug('batch %s: %s; applying it again', o.batchId, why);
    await o.subscriber.query('ROLLBACK TO SAVEPOINT pgferry_batch');
  };
  let result: BatchApplyResult;
  try {
    try {
      result = await applyCoalesced(o, true);
    } catch (err) {
      if (!(err instanceof RedoBatch)) throw err;
      // A statement failed or missed rows: again with a savepoint per statement, which names the key.
      await again(err.cause instanceof Error ? err.cause.message : err.message);
      result = await applyCoalesced(o, false);
    }
  } catch (err) {
    if (!(err instanceof ApplyError) || !ORDER_SENSITIVE.has(err.code ?? '')) throw err;
    await again(`${err.message}: in the provider's order`);
    result = await applyInOrder(o);
  }
  await o.subscriber.query('RELEASE SAVEPOINT pgferry_batch');
  return result;
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

/** A memo per batch (see BatchScope). */
function batchScope(firstAttempt = false): BatchScope {
  const memo = new Map<string, Promise<unknown>>();
  return {
    firstAttempt,
    memo<T>(key: string, make: () => Promise<T>): Promise<T> {
      let p = memo.get(key) as Promise<T> | undefined;
      if (!p) memo.set(key, (p = make()));
      return p;
    },
  };
}

/**
 * The tables `dests` in an order where every table comes after the tables its foreign keys
 * reference (among `dests`), or null when none references another (or they form a cycle:
 * then the batch order stands, and a violation sends the batch to the ordered apply).
 */
async function foreignKeyOrder(client: pg.ClientBase, scope: BatchScope, dests: string[]): Promise<string[] | null> {
  const edges = await scope.memo(`fkeys:${JSON.stringify([...dests].sort())}`, async () =>
    (await client.query<{ child: string; parent: string }>({ ...prepared('fkey_edges'), values: [dests] })).rows,
  );
  if (!edges.length) return null;
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string): boolean => {
    if (state.get(t) === 'done') return true;
    if (state.get(t) === 'visiting') return false;
    state.set(t, 'visiting');
    for (const e of edges) if (e.child === t && e.parent !== t && !visit(e.parent)) return false;
    state.set(t, 'done');
    order.push(t);
    return true;
  };
  for (const t of dests) if (!visit(t)) return null;
  return order;
}

/** How many keys are tried one by one to name the one a handler fails on. */
const LOCATE_MAX_KEYS = 1000;

/**
 * Hand one table's changes to its handler. An error that is not the handler's own
 * ApplyError (a user handler's) is located: the changes are undone and given again one key
 * at a time, to name the key and event; either way it names the handler and the table.
 */
async function applyTable(o: BatchApplyOptions, scope: BatchScope, table: SubscribedTable, changes: TableChanges): Promise<ApplyResult> {
  if (table.idempotent) return applyRowsIdempotent(o.subscriber, scope, rowTargetOf(table), changes);
  const handler = o.handlers.handlerFor(table);
  const ctx: HandlerContext = {
    client: o.subscriber,
    table,
    batchId: o.batchId,
    scope,
    log: (level, message) => {
      debug('%s (%s): %s', table.dest, table.handler, message);
      o.log?.(level, `${table.dest} (handler ${table.handler}): ${message}`);
    },
  };
  if (table.handler === 'row') return handler.apply(ctx, changes); // its errors name the key already
  if (scope.firstAttempt) {
    // No savepoint: a failure is located on the second attempt (see applyBatch).
    try {
      return await handler.apply(ctx, changes);
    } catch (err) {
      if (isConnectionError(err) || err instanceof RedoBatch) throw err;
      if (err instanceof ApplyError && ORDER_SENSITIVE.has(err.code ?? '')) throw err;
      throw new RedoBatch(table.dest, { cause: err });
    }
  }
  await o.subscriber.query('SAVEPOINT pgferry_handler');
  try {
    const r = await handler.apply(ctx, changes);
    await o.subscriber.query('RELEASE SAVEPOINT pgferry_handler');
    return r;
  } catch (err) {
    if (isConnectionError(err)) throw err;
    await o.subscriber.query('ROLLBACK TO SAVEPOINT pgferry_handler');
    if (err instanceof ApplyError && err.key !== null) throw err;
    const message = err instanceof ApplyError ? err.sqlError : err instanceof Error ? err.message : String(err);
    const code = (err as { code?: string }).code;
    let culprit: { key: string; eventId: string } | undefined;
    if (!changes.truncate && changes.keys.size > 1 && changes.keys.size <= LOCATE_MAX_KEYS) {
      for (const c of changes.keys.values()) {
        await o.subscriber.query('SAVEPOINT pgferry_handler');
        try {
          await handler.apply(ctx, { truncate: false, keys: new Map([[c.key, c]]) });
        } catch {
          culprit = { key: c.key, eventId: c.eventId };
          break;
        } finally {
          await o.subscriber.query('ROLLBACK TO SAVEPOINT pgferry_handler');
        }
      }
    } else if (changes.keys.size === 1) {
      const c = changes.keys.values().next().value!;
      culprit = { key: c.key, eventId: c.eventId };
    }
    throw new ApplyError(table.dest, culprit?.key ?? null, culprit?.eventId ?? null, message, { code, cause: err, handler: table.handler });
  }
}

/** The batch coalesced; `firstAttempt`: see BatchScope.firstAttempt. */
async function applyCoalesced(o: BatchApplyOptions, firstAttempt: boolean): Promise<BatchApplyResult> {
  let coalescer = new Coalescer();
  const tables = new Map<string, SubscribedTable>();
  const result = newResult(false);
  const maxKeys = o.maxKeys ?? 20_000;
  let scope = batchScope(firstAttempt);

  const apply = async (generation: Coalescer) => {
    const entries = [...generation.tables].map(([source, changes]) => ({ table: tables.get(source)!, changes }));
    primeShapes(o.subscriber, scope, entries.map((e) => e.table.dest));
    const order = entries.length > 1 ? await foreignKeyOrder(o.subscriber, scope, entries.map((e) => e.table.dest)) : null;
    if (!order) {
      for (const { table, changes } of entries) addTableResult(result, table.source, await applyTable(o, scope, table, changes));
      return;
    }
    // Tables joined by foreign keys: rows that stay are written parents first, rows that go
    // are deleted children first, so that no key is checked, and no ON DELETE action of the
    // subscriber's keys fires, against a state the provider never had (a child moved away
    // from a parent deleted later in the batch must not be cascaded away with it).
    const rank = (e: (typeof entries)[number]) => order.indexOf(e.table.dest);
    const sorted = [...entries].sort((a, b) => rank(a) - rank(b));
    for (const { table, changes } of sorted) {
      const staying = { truncate: changes.truncate, keys: new Map([...changes.keys].filter(([, c]) => c.image !== null)) };
      if (staying.truncate || staying.keys.size) addTableResult(result, table.source, await applyTable(o, scope, table, staying));
    }
    for (const { table, changes } of sorted.reverse()) {
      const going = { truncate: false, keys: new Map([...changes.keys].filter(([, c]) => c.image === null)) };
      if (going.keys.size) addTableResult(result, table.source, await applyTable(o, scope, table, going));
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
    { ...o, executes: o.execute !== undefined },
    result,
    async (routed) => {
      for (const { ev, table } of routed) {
        if (table === null) {
          // DDL: everything before it lands first, everything after it on the new shape.
          await flush();
          await inflight;
          if (failed) throw failed.err;
          await o.execute!(o.subscriber, ev);
          scope = batchScope(firstAttempt); // shapes, statements and keys are read again
          continue;
        }
        tables.set(table.source, table);
        coalesce(coalescer, ev, table);
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

function coalesce(coalescer: Coalescer, ev: RawEvent, table: SubscribedTable): void {
  if (ev.type === 'T') coalescer.truncate(table.source);
  else coalescer.change(table.source, ev.type as 'I' | 'U' | 'D', ev.extra2!, ev.data!, ev.id);
}

async function applyInOrder(o: BatchApplyOptions): Promise<BatchApplyResult> {
  const result = newResult(true);
  let scope = batchScope();
  // Events of the current provider transaction that conflicted, to retry at its end.
  let deferred: (Routed & { table: SubscribedTable })[] = [];
  let txid: string | null = null;

  /** One event alone, through its table's handler. */
  const applyOne = async ({ ev, table }: Routed & { table: SubscribedTable }) => {
    const single = new Coalescer();
    coalesce(single, ev, table);
    addTableResult(result, table.source, await applyTable(o, scope, table, single.tables.get(table.source)!));
  };
  const tryApply = async (r: Routed & { table: SubscribedTable }): Promise<'done' | 'conflict'> => {
    await o.subscriber.query('SAVEPOINT pgferry_event');
    try {
      await applyOne(r);
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
      const left: (Routed & { table: SubscribedTable })[] = [];
      for (const r of deferred) if ((await tryApply(r)) === 'conflict') left.push(r);
      if (left.length === deferred.length) {
        // No progress: this is a real conflict, not an order the batch lost. Report it.
        await applyOne(left[0]!);
      }
      deferred = left;
    }
  };

  await readBatch(
    { ...o, executes: o.execute !== undefined },
    result,
    async (routed) => {
      for (const r of routed) {
        if (r.ev.txid !== txid) {
          await retryDeferred();
          txid = r.ev.txid;
        }
        if (r.table === null) {
          await retryDeferred();
          await o.execute!(o.subscriber, r.ev);
          scope = batchScope(); // shapes, statements and keys are read again
        } else if ((await tryApply(r)) === 'conflict') deferred.push(r);
      }
    },
    async () => undefined,
  );
  await retryDeferred();
  return result;
}
