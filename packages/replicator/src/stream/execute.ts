/**
 * An execute event met by a subscriber's main stream (see admin/execute.ts): the SQL runs
 * at that point of the stream, in the batch's transaction, and the subscription's tables
 * then replicate the columns the provider captures after the DDL. An execute that fails
 * stops the stream with an error naming the file (the batch is rolled back and retried),
 * never a silent skip; one this database ran before (same name and text) is skipped.
 */
import type pg from 'pg';
import type { RawEvent } from '@pgferry/queue';
import { executedBefore, type CaptureChange } from '../admin/execute.js';
import { ApplyError } from '../errors.js';
import { sql } from '../sql.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';

/** Run an execute event; returns the subscription's tables whose capture changed with it. */
export async function applyExecute(client: pg.ClientBase, subscription: string, ev: RawEvent): Promise<SubscribedTable[]> {
  const name = ev.extra2 ?? `event ${ev.id}`;
  const fail = (message: string, cause?: unknown): never => {
    throw new ApplyError(name, null, ev.id, message, { code: (cause as { code?: string } | undefined)?.code, cause, handler: 'execute' });
  };
  if (ev.data === null || ev.extra3 === null || ev.extra4 === null) fail('the execute event has no SQL, hash or capture change');
  const text = JSON.parse(ev.data!) as string;
  const changes = JSON.parse(ev.extra4!) as CaptureChange[];
  if (!(await executedBefore(client, name, ev.extra3!))) {
    await client.query('SAVEPOINT pgferry_execute');
    try {
      await client.query(text);
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT pgferry_execute');
      fail(`executing ${name} on the subscriber: ${(err as Error).message}`, err);
    }
    await client.query('RELEASE SAVEPOINT pgferry_execute');
    await client.query(sql('record_executed'), [name, ev.extra3]);
  }
  const updated: SubscribedTable[] = [];
  const { rows } = await client.query<SubscriberTableRow>(sql('subscriber_tables'), [subscription]);
  for (const change of changes) {
    const t = rows.find((r) => r.st_source === change.previous);
    if (!t) continue;
    // Columns it replicated that are still captured, and the columns the DDL added.
    const columns = change.columnsAfter.filter((c) => t.st_columns.includes(c) || !change.columnsBefore.includes(c));
    const gone = t.st_key_columns.filter((k) => !columns.includes(k));
    if (gone.length) fail(`${name} takes key column(s) ${gone.join(', ')} of ${change.table} away`);
    const r = await client.query<SubscriberTableRow>(sql('table_after_ddl'), [subscription, change.previous, change.table, columns, t.st_key_columns]);
    updated.push(toSubscribedTable(r.rows[0]!));
  }
  return updated;
}
