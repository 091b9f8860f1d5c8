/**
 * The apply-handler seam: how a replicated table's changes land on the subscriber.
 *
 * A handler is chosen per table at add-table (`handler` and `handlerArgs`, stored with the
 * table on the subscriber). For each batch, the worker coalesces the batch's events per
 * table and key (the end state of each key: see stream/coalesce.ts) and hands each table's
 * changes to its handler inside the batch's subscriber transaction: whatever the handler
 * writes there commits with the batch's recorded position, exactly once, or not at all.
 * A handler also decides how the initial copy lands (copy hooks).
 *
 * When a coalesced batch hits an order-sensitive constraint (unique, exclusion, foreign
 * key), the batch is rolled back to a savepoint and applied again one event at a time in
 * the provider's order: the handler then receives changes holding a single event each.
 * So a handler never needs to know about ordering: it lands the changes it is given.
 *
 * Built-in handlers: `row` (the default: rows into a table of the same shape), and those
 * registered in handlers/registry.ts. User handlers are modules named in the worker's
 * configuration (see HandlerRegistry.load in handlers/registry.ts).
 */
import type pg from 'pg';
import type { TableChanges } from '../stream/coalesce.js';
import type { SubscribedTable } from '../state/subscribed-table.js';

/** Arguments of a handler, as given at add-table (`--handler-arg name=value`). */
export type HandlerArgs = Readonly<Record<string, string>>;

/** What a handler did with one table's changes (summed into the worker's stats). */
export interface ApplyResult {
  inserted: number;
  updated: number;
  deleted: number;
  /** Updates and deletes that found no row (counted, never silently dropped). */
  missingUpdates: number;
  missingDeletes: number;
  /** Keys of updates and deletes that found no row (the first few). */
  missingKeys: string[];
}

/** The statements cache of one batch: each subscriber table's shape is read once per batch. */
export interface BatchScope {
  /** Memoize `make` under `key` for the rest of the batch (a table's statements, say). */
  memo<T>(key: string, make: () => Promise<T>): Promise<T>;
  /**
   * The first attempt at a batch: applyRows runs its statements without a savepoint each
   * and, should one fail or miss a row, throws RedoBatch: the batch is rolled back to its
   * own savepoint and applied again with a savepoint per statement, which names the key
   * that fails and counts the rows missing. (A savepoint that writes takes a subtransaction
   * id: past 64 in one transaction, every snapshot on the subscriber overflows its cache.)
   */
  readonly firstAttempt?: boolean;
}

/** Where a handler runs: one table of one batch, in the batch's subscriber transaction. */
export interface HandlerContext {
  /** The subscriber connection, inside the batch's transaction. Never COMMIT or ROLLBACK on it. */
  client: pg.ClientBase;
  table: SubscribedTable;
  /** The batch being applied (its id on the provider). */
  batchId: string;
  scope: BatchScope;
  /** A log line for the worker to print (and the `pgferry:replicator:handler` debug log). */
  log(level: 'info' | 'warn', message: string): void;
}

/** Where the copy hooks run: the copy's subscriber transaction, before and after the COPY. */
export interface CopyContext {
  client: pg.ClientBase;
  table: SubscribedTable;
}

/** How the initial copy of a table lands. */
export interface CopyHooks {
  /**
   * Before the COPY: make room for the copy (empty what it replaces) and return the
   * relation COPY writes into, with the table's replicated columns (`table.columns`). The
   * row handler empties the destination and copies into it; a handler that reshapes rows
   * copies into a temporary table and distributes them in `end`.
   */
  begin(ctx: CopyContext): Promise<string>;
  /** After the COPY, in the same transaction: distribute staged rows, build summaries, ... */
  end?(ctx: CopyContext, relation: string): Promise<void>;
  /**
   * A later chunk of a chunked copy (resumable; see copy/chunked-copy.ts): the relation it
   * COPYs into, adding to what the earlier chunks wrote. Only hooks that have it and no
   * `end` are copied in chunks; the others in one transaction.
   */
  resume?(ctx: CopyContext): Promise<string>;
}

/** A handler serving one table (made by its definition from the table and its arguments). */
export interface TableHandler {
  /** Land one table's coalesced changes (see TableChanges), in the batch's transaction. */
  apply(ctx: HandlerContext, changes: TableChanges): Promise<ApplyResult>;
  /** How the initial copy lands. Default: the row handler's (empty the destination, COPY into it). */
  copy?: CopyHooks;
}

/** A handler by name: checks its arguments and makes the handler of a table. */
export interface HandlerDefinition {
  name: string;
  /** One line for `--help` and status. */
  description: string;
  /**
   * add-table: the destination (`dest`) is a table with the provider's replicated columns,
   * checked (or created with `create`) as for the row handler. Default true. A handler
   * writing elsewhere only (a queue, say) sets false: dest is then a name only.
   */
  destIsTable?: boolean;
  /**
   * Federation: the handler lands a merged table (add-table's merge column) as the row
   * handler does: each source's apply, copy and TRUNCATE touch only its own rows, and a key
   * held by another source stops the stream. Default false: add-table refuses a merge column.
   */
  merges?: boolean;
  /**
   * add-table with create, when dest does not exist: a clause appended to its CREATE TABLE
   * (` PARTITION BY RANGE ("ts")`, say). Called after create() accepted `args`. Default none.
   */
  createClause?(args: HandlerArgs): string;
  /**
   * Check `args` (throw a HandlerArgsError naming the argument and what is expected) and
   * make the table's handler. Called at add-table (to refuse bad arguments before anything
   * changes) and by the worker.
   */
  create(table: SubscribedTable, args: HandlerArgs): TableHandler;
  /**
   * add-table, after the destination is checked or created, in the subscriber transaction
   * that registers the table: create what the handler needs besides (a summary table, ...).
   */
  prepare?(client: pg.ClientBase, table: SubscribedTable, args: HandlerArgs): Promise<void>;
}

export function emptyApplyResult(): ApplyResult {
  return { inserted: 0, updated: 0, deleted: 0, missingUpdates: 0, missingDeletes: 0, missingKeys: [] };
}

export function addApplyResult(into: ApplyResult, r: ApplyResult): void {
  into.inserted += r.inserted;
  into.updated += r.updated;
  into.deleted += r.deleted;
  into.missingUpdates += r.missingUpdates;
  into.missingDeletes += r.missingDeletes;
  for (const k of r.missingKeys) if (into.missingKeys.length < 20) into.missingKeys.push(k);
}
