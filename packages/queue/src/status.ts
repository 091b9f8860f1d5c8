/**
 * A queue's whole status: its figures, its consumers and its event tables. What
 * `pgferry queue status --json` prints and what the web console shows (one source).
 */
import { getConsumerInfo, getQueueInfo, type ConsumerInfo, type QueueInfo } from './admin.js';
import { q, type Queryable } from './db.js';
import { sql } from './sql.js';

export interface EventTableInfo {
  /** Its number in the rotation (0 .. ntables - 1). */
  tableNo: number;
  /** Writers append to it now. */
  isCurrent: boolean;
  tableName: string;
  /** The planner's estimate (no scan): rough between ANALYZEs, null before the first. */
  estimatedRows: number | null;
  /** On disk, with indexes and TOAST. */
  bytes: number;
}

export interface QueueStatus extends QueueInfo {
  consumerList: ConsumerInfo[];
  /** null when the role may not read pgferry.queue (event tables need pgferry_admin). */
  eventTables: EventTableInfo[] | null;
}

/** Each rotating event table of `queue` (all queues when undefined), keyed by queue. */
export async function getEventTables(db: Queryable, queue?: string): Promise<Map<string, EventTableInfo[]>> {
  const rows = await q<Record<string, unknown>>(db, sql('event_tables'), [queue ?? null]);
  const out = new Map<string, EventTableInfo[]>();
  for (const r of rows) {
    const list = out.get(r.queue_name as string) ?? [];
    list.push({
      tableNo: r.table_no as number,
      isCurrent: r.is_current as boolean,
      tableName: r.table_name as string,
      estimatedRows: (r.est_rows as number | null) ?? null,
      bytes: Number(r.bytes),
    });
    out.set(r.queue_name as string, list);
  }
  return out;
}

/** Every queue (or one), with its consumers and event tables. */
export async function getQueueStatus(db: Queryable, queue?: string): Promise<QueueStatus[]> {
  const [queues, consumers, tables] = await Promise.all([
    getQueueInfo(db, queue),
    getConsumerInfo(db, queue),
    // A reader may see the figures but not pgferry.queue: the rest of the status still stands.
    getEventTables(db, queue).catch((err: { code?: string }) => {
      if (err.code === '42501') return null;
      throw err;
    }),
  ]);
  return queues.map((qi) => ({
    ...qi,
    consumerList: consumers.filter((c) => c.queueName === qi.queueName),
    eventTables: tables ? (tables.get(qi.queueName) ?? []) : null,
  }));
}
