/**
 * A copy's progress (rows, bytes, rate, ETA; for a chunked copy what is committed and what a
 * resume kept), the provider's estimate of its size, and the watch that closes the
 * connections of a copy that stopped moving.
 */
import createDebug from 'debug';
import type pg from 'pg';
import { destroyConnection, type Queryable } from '@pgferry/queue';

const debug = createDebug('pgferry:replicator:copy');

export interface CopyProgress {
  table: string;
  /** Rows copied (for a chunked copy: committed ones, and those of the chunk in flight). */
  rows: number;
  bytes: number;
  /** Rows the provider's statistics expect (null when unknown). */
  estimatedRows: number | null;
  startedAt: Date;
  /** Rows per second so far. */
  rate: number;
  /** Seconds left at the current rate (null when unknown). */
  etaSeconds: number | null;
  /** A chunked copy: rows committed on the subscriber (they survive a restart). */
  committedRows?: number;
  /** A chunked copy: times it resumed after its last key, and the rows those resumes kept. */
  resumes?: number;
  resumedRows?: number;
  /** status: the committed rows' share of the estimate (100 once copied; null when unknown). */
  percent?: number | null;
}

/** The planner's estimate for a query: rows, and the average width of a row (bytes). */
export interface RowEstimate {
  rows: number | null;
  width: number | null;
}

/**
 * The planner's estimate for a query, for the copy's ETA and chunk size: pg_class.reltuples
 * once the table was analyzed, else an estimate from its size (a table filled and copied
 * before autovacuum saw it has reltuples -1). Nulls when it cannot be had.
 */
export async function estimateRows(db: Queryable, select: string): Promise<RowEstimate> {
  try {
    const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number; 'Plan Width': number } }] }>(`EXPLAIN (FORMAT JSON) ${select}`);
    const plan = rows[0]?.['QUERY PLAN'][0].Plan;
    const n = plan?.['Plan Rows'];
    const w = plan?.['Plan Width'];
    return { rows: typeof n === 'number' && n > 0 ? n : null, width: typeof w === 'number' && w > 0 ? w : null };
  } catch {
    return { rows: null, width: null };
  }
}

export function progressOf(table: string, rows: number, bytes: number, estimatedRows: number | null, startedAt: Date): CopyProgress {
  const secs = Math.max((Date.now() - startedAt.getTime()) / 1000, 0.001);
  const rate = rows / secs;
  const eta = estimatedRows !== null && estimatedRows > 0 && rate > 0 ? Math.max(estimatedRows - rows, 0) / rate : null;
  return { table, rows, bytes, estimatedRows, startedAt, rate, etaSeconds: eta };
}

/**
 * Every 500 ms: report progress, and when no byte moved for `stallMs` (a connection cut
 * without an error, a server that stopped answering), close the copy's connections so that
 * it fails. COPY itself runs without statement_timeout (a big table takes long).
 */
export class StallWatch {
  stalled = false;
  private lastBytes = -1;
  private lastMove = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    what: string,
    bytes: () => number,
    connections: pg.PoolClient[],
    stallMs: number | undefined,
    report: () => void,
  ) {
    this.timer = setInterval(() => {
      report();
      const now = bytes();
      if (now !== this.lastBytes) {
        this.lastBytes = now;
        this.lastMove = Date.now();
      } else if (stallMs !== undefined && Date.now() - this.lastMove > stallMs && !this.stalled) {
        this.stalled = true;
        debug('copy %s: no byte in %d ms; closing its connections', what, stallMs);
        for (const c of connections) destroyConnection(c);
      }
    }, 500);
  }

  /** The bytes moved now: the watch starts counting from here (a pause between chunks). */
  moved(): void {
    this.lastMove = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
