/**
 * Never silent divergence: before a batch is applied, the provider's captured tables that
 * the stream applies are checked against their capture (pgferry.capture_drift). A table
 * whose columns changed outside `execute` stops the stream with CaptureDriftError before
 * any of the batch is applied. The batch's tick exists when it is read, so any DDL that
 * came before its events has committed and is seen: the stream stops at the latest at the
 * first batch holding a change written after the DDL (possibly earlier, never later).
 */
import type pg from 'pg';
import { captureDrift } from '@pgferry/queue';
import { CaptureDriftError } from '../errors.js';

/** Throw CaptureDriftError for the first of `tables` (captured names) whose capture drifted. */
export async function checkCaptureDrift(provider: pg.Pool, queue: string, tables: Iterable<string>): Promise<void> {
  const applied = new Set(tables);
  if (!applied.size) return;
  for (const d of await captureDrift(provider, queue)) {
    if (!applied.has(d.table)) continue;
    throw new CaptureDriftError(
      d.table,
      d.columnsNow.filter((c) => !d.columnsCaptured.includes(c)),
      d.columnsCaptured.filter((c) => !d.columnsNow.includes(c)),
    );
  }
}
