/**
 * Change capture: typed access to the SQL layer's capture functions (triggers that write a
 * table's changes into a queue as row images; see packages/sql/sql/functions/capture_*).
 */
import { q, type Queryable } from './db.js';
import { sql } from './sql.js';

/** How a queue captures a table. */
export interface CapturedTable {
  queue: string;
  /** Schema-qualified, quoted as needed (regclass form). */
  table: string;
  keyColumns: string[];
  ignoreColumns: string[];
  /** SQL condition on the row (`r`): only matching rows are captured. */
  filter: string | null;
  mode: 'statement' | 'row';
  created: Date;
}

export interface CaptureOptions {
  /** Key columns (default: the primary key). */
  keyColumns?: string[];
  /** Columns left out of row images. */
  ignoreColumns?: string[];
  filter?: string | null;
  /** Statement-level triggers with transition tables (default), or row-level. */
  mode?: 'statement' | 'row';
}

interface CaptureRow {
  queue_name: string;
  table_name: string;
  key_columns: string[];
  ignore_columns: string[];
  filter: string | null;
  mode: 'statement' | 'row';
  created: Date;
}

const toCaptured = (r: CaptureRow): CapturedTable => ({
  queue: r.queue_name,
  table: r.table_name,
  keyColumns: r.key_columns,
  ignoreColumns: r.ignore_columns,
  filter: r.filter,
  mode: r.mode,
  created: r.created,
});

/** Capture `table`'s changes into `queue` (or change how it is captured). */
export async function captureTable(db: Queryable, queue: string, table: string, options: CaptureOptions = {}): Promise<void> {
  await q(db, 'SELECT pgferry.capture_add_table($1, $2, $3, $4, $5, $6)', [
    queue,
    table,
    options.keyColumns ?? null,
    options.ignoreColumns ?? null,
    options.filter ?? null,
    options.mode ?? 'statement',
  ]);
}

/** Stop capturing `table` into `queue`. */
export async function uncaptureTable(db: Queryable, queue: string, table: string): Promise<void> {
  await q(db, 'SELECT pgferry.capture_remove_table($1, $2)', [queue, table]);
}

/** The tables captured into `queue` (all queues when omitted). */
export async function capturedTables(db: Queryable, queue?: string): Promise<CapturedTable[]> {
  return (await q<CaptureRow>(db, 'SELECT * FROM pgferry.capture_tables($1)', [queue ?? null])).map(toCaptured);
}

/** A captured table whose columns changed outside capture (DDL run directly, not through execute). */
export interface CaptureDrift {
  table: string;
  /** The columns its capture writes (their names when capture began or last followed DDL). */
  columnsCaptured: string[];
  /** Its columns now. */
  columnsNow: string[];
}

/** The tables of `queue` whose columns are no longer those their capture writes. */
export async function captureDrift(db: Queryable, queue: string): Promise<CaptureDrift[]> {
  const rows = await q<{ table_name: string; columns_captured: string[]; columns_now: string[] }>(db, 'SELECT * FROM pgferry.capture_drift($1)', [queue]);
  return rows.map((r) => ({ table: r.table_name, columnsCaptured: r.columns_captured, columnsNow: r.columns_now }));
}

/** How `queue` captures `table`, or undefined when it does not. */
export async function capturedTable(db: Queryable, queue: string, table: string): Promise<CapturedTable | undefined> {
  return (await capturedTables(db, queue)).find((t) => t.table === table);
}

/** The txid snapshot of a tick of `queue` (text form), or null when the queue no longer holds it. */
export async function tickSnapshot(db: Queryable, queue: string, tickId: string): Promise<string | null> {
  return (await q<{ snapshot: string }>(db, sql('tick_snapshot'), [queue, tickId]))[0]?.snapshot ?? null;
}
