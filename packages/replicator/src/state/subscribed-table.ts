/** A table a subscription replicates, as stored in pgferry.subscriber_table. */
export type TableState = 'in-copy' | 'catching-up' | 'ok';

export interface SubscribedTable {
  subscription: string;
  /** The captured table's name on the provider (the events' ev_extra1). */
  source: string;
  /** The table written on the subscriber (qualified, quoted where needed). */
  dest: string;
  keyColumns: string[];
  columns: string[];
  state: TableState;
  copySnapshot: string | null;
  copyConsumer: string | null;
  /** The catch-up's position on the provider: a tick id, and that tick's time and event counter (null: recorded by an older version). */
  copyTick: string | null;
  copyTickTime: Date | null;
  copyTickSeq: string | null;
  syncTick: string | null;
  /** Rows copied: while in-copy, those committed so far (a chunked copy commits chunk by chunk). */
  copiedRows: number | null;
  /**
   * A chunked copy's progress (see copy/chunked-copy.ts): the key of the last row copied (the
   * key columns' text forms; null before the first chunk), the last chunk's snapshot (events
   * between copySnapshot and it are applied idempotently by the catch-up), the provider's row
   * estimate, chunks committed, resumes after an interruption and the rows they kept.
   */
  copyLastKey: string[] | null;
  copyLastSnapshot: string | null;
  copyEstimate: number | null;
  copyChunks: number;
  copyResumes: number;
  copyResumedRows: number;
  missingUpdates: number;
  missingDeletes: number;
  /** The handler that lands its changes (see handlers/), and the handler's arguments. */
  handler: string;
  handlerArgs: Record<string, string>;
  /**
   * Federation: the subscriber table's column holding each row's source (the subscription's
   * name); several subscriptions write the table, each only its own rows. Null: the table is
   * this subscription's alone.
   */
  mergeColumn: string | null;
  /**
   * The table's copy and apply are captured by the subscriber's own capture of dest (a
   * merged table feeding a queue on the target); otherwise the replicator's writes are not
   * captured again (loop prevention).
   */
  captureApplied: boolean;
  /**
   * Set by a catch-up on the tables it routes events to while those events may be in some
   * chunks of the copy and not in others: they are applied idempotently (see
   * applyRowsIdempotent). Never stored.
   */
  idempotent?: boolean;
}

export interface SubscriberTableRow {
  st_subscription: string;
  st_source: string;
  st_dest: string;
  st_key_columns: string[];
  st_columns: string[];
  st_state: TableState;
  st_copy_snapshot: string | null;
  st_copy_consumer: string | null;
  st_copy_tick: string | null;
  st_copy_tick_time: Date | null;
  st_copy_tick_seq: string | null;
  st_sync_tick: string | null;
  st_copied_rows: string | null;
  st_copy_last_key: string[] | null;
  st_copy_last_snapshot: string | null;
  st_copy_estimate: string | null;
  st_copy_chunks: number;
  st_copy_resumes: number;
  st_copy_resumed_rows: string;
  st_missing_updates: string;
  st_missing_deletes: string;
  st_handler: string;
  st_handler_args: Record<string, string>;
  st_merge_column: string | null;
  st_capture_applied: boolean;
}

export function toSubscribedTable(r: SubscriberTableRow): SubscribedTable {
  return {
    subscription: r.st_subscription,
    source: r.st_source,
    dest: r.st_dest,
    keyColumns: r.st_key_columns,
    columns: r.st_columns,
    state: r.st_state,
    copySnapshot: r.st_copy_snapshot,
    copyConsumer: r.st_copy_consumer,
    copyTick: r.st_copy_tick,
    copyTickTime: r.st_copy_tick_time,
    copyTickSeq: r.st_copy_tick_seq,
    syncTick: r.st_sync_tick,
    copiedRows: r.st_copied_rows === null ? null : Number(r.st_copied_rows),
    copyLastKey: r.st_copy_last_key,
    copyLastSnapshot: r.st_copy_last_snapshot,
    copyEstimate: r.st_copy_estimate === null ? null : Number(r.st_copy_estimate),
    copyChunks: r.st_copy_chunks,
    copyResumes: r.st_copy_resumes,
    copyResumedRows: Number(r.st_copy_resumed_rows),
    missingUpdates: Number(r.st_missing_updates),
    missingDeletes: Number(r.st_missing_deletes),
    handler: r.st_handler,
    handlerArgs: r.st_handler_args,
    mergeColumn: r.st_merge_column,
    captureApplied: r.st_capture_applied,
  };
}
