/**
 * Status of a subscription, read from the databases (so any process can show it): the main
 * stream's position and lag, each table's state, copy progress, missing rows and last error,
 * each sequence's values on both sides.
 */
import { getConsumerInfo, type Queryable } from '@pgferry/queue';
import { progressOf, type CopyProgress } from '../copy/copy-table.js';
import { subscriberNode } from '../admin/nodes.js';
import { ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';
import type { SubscribedSequence } from '../state/subscribed-sequence.js';
import { listSequences, readSequenceValues, type SequenceValue } from '../stream/sequences.js';

export interface TableStatus extends SubscribedTable {
  lastError: string | null;
  lastErrorAt: Date | null;
  errors: number;
  /** Progress of the last or current copy. */
  copy: CopyProgress | null;
}

export interface SequenceStatus extends SubscribedSequence {
  /** The provider's last value now (null: not used yet, or the provider was not read). */
  providerValue: string | null;
  /** The subscriber's last value now (null: not used yet). */
  subscriberValue: string | null;
}

export interface SubscriptionStatus {
  subscription: string;
  queue: string;
  appliedTick: string | null;
  appliedAt: Date | null;
  eventsApplied: number;
  lastError: string | null;
  lastErrorAt: Date | null;
  /**
   * From the provider, when it is reachable: the lag as people read it, the age of the
   * oldest event not applied yet (0 when caught up, whatever the queue's quiet time)...
   */
  lagSeconds: number | null;
  /** ...the age of the subscription's position tick (PGQ's lag: grows on a quiet queue), and events pending. */
  tickLagSeconds: number | null;
  pendingEvents: number | null;
  /** The main stream's batch open on the provider, and for how long (seconds). */
  currentBatch: string | null;
  batchAgeSeconds: number | null;
  /** Why the provider's side could not be read (null when it was, or was not asked). */
  providerError: string | null;
  tables: TableStatus[];
  sequences: SequenceStatus[];
}

type StatusRow = SubscriberTableRow & {
  st_added: Date;
  rs_last_error: string | null;
  rs_error_at: Date | null;
  rs_errors: string | null;
  rs_copy_rows: string | null;
  rs_copy_bytes: string | null;
  rs_copy_estimate: string | null;
  rs_copy_started: Date | null;
  rs_updated: Date | null;
};

export async function getStatus(subscriber: Queryable, subscription: string, provider?: Queryable): Promise<SubscriptionStatus> {
  const leaf = await subscriberNode(subscriber, subscription);
  const at = await subscriber.query<{ at_tick_id: string | null; at_applied: Date | null; at_events: string }>(
    sql('applied_tick'),
    [subscription],
  );
  const main = await subscriber.query<{ rs_last_error: string | null; rs_error_at: Date | null }>(
    sql('main_error'),
    [subscription],
  );
  const rows = (await subscriber.query<StatusRow>(sql('status'), [subscription])).rows;
  let lagSeconds: number | null = null;
  let tickLagSeconds: number | null = null;
  let pendingEvents: number | null = null;
  let currentBatch: string | null = null;
  let batchAgeSeconds: number | null = null;
  let providerError: string | null = null;
  if (provider) {
    try {
      const c = (await getConsumerInfo(provider, leaf.queue, subscription)).find((x) => x.consumerName === subscription);
      if (!c) throw new ReplicationStateError(`subscription "${subscription}" is not registered on queue "${leaf.queue}"`, { hint: 'its consumer was unregistered on the provider: drop the leaf and create it again' });
      lagSeconds = c.pendingAgeSeconds;
      tickLagSeconds = c.lagSeconds;
      pendingEvents = c.pendingEvents;
      currentBatch = c.currentBatch;
      batchAgeSeconds = c.batchAgeSeconds;
    } catch (err) {
      providerError = err instanceof Error ? err.message : String(err);
    }
  }
  const seqs = await listSequences(subscriber, subscription);
  const subscriberValues = await readSequenceValues(subscriber, seqs.map((q) => q.dest));
  let providerValues = new Map<string, SequenceValue>();
  if (provider && providerError === null) {
    providerValues = await readSequenceValues(provider, seqs.map((q) => q.source)).catch((err: unknown) => {
      providerError = err instanceof Error ? err.message : String(err);
      return providerValues;
    });
  }
  return {
    subscription,
    queue: leaf.queue,
    appliedTick: at.rows[0]?.at_tick_id ?? null,
    appliedAt: at.rows[0]?.at_applied ?? null,
    eventsApplied: Number(at.rows[0]?.at_events ?? 0),
    lastError: main.rows[0]?.rs_last_error ?? null,
    lastErrorAt: main.rows[0]?.rs_error_at ?? null,
    lagSeconds,
    tickLagSeconds,
    pendingEvents,
    currentBatch,
    batchAgeSeconds,
    providerError,
    tables: rows.map((r) => {
      let copy =
        r.rs_copy_started && r.rs_copy_rows !== null
          ? progressOf(r.st_dest, Number(r.rs_copy_rows), Number(r.rs_copy_bytes ?? 0), r.rs_copy_estimate === null ? null : Number(r.rs_copy_estimate), r.rs_copy_started)
          : null;
      if (copy && r.st_state !== 'in-copy' && r.rs_updated) {
        // A finished copy: its rate over its own duration, nothing left.
        const secs = Math.max((r.rs_updated.getTime() - r.rs_copy_started!.getTime()) / 1000, 0.001);
        copy.rate = copy.rows / secs;
        copy.etaSeconds = 0;
      }
      const table = toSubscribedTable(r);
      if (table.copyChunks > 0 || table.copyResumes > 0) {
        // A chunked copy: what is committed (it survives a restart) and what resumes kept.
        const c = copy ?? progressOf(r.st_dest, table.copiedRows ?? 0, 0, table.copyEstimate, r.st_added);
        const estimate = table.copyEstimate ?? c.estimatedRows;
        c.committedRows = table.copiedRows ?? 0;
        c.resumes = table.copyResumes;
        c.resumedRows = table.copyResumedRows;
        c.percent = r.st_state !== 'in-copy' ? 100 : estimate ? Math.min((100 * c.committedRows) / estimate, 100) : null;
        copy = c;
      }
      return {
        ...table,
        lastError: r.rs_last_error,
        lastErrorAt: r.rs_error_at,
        errors: Number(r.rs_errors ?? 0),
        copy,
      };
    }),
    sequences: seqs.map((q) => ({
      ...q,
      providerValue: providerValues.get(q.source)?.lastValue ?? null,
      subscriberValue: subscriberValues.get(q.dest)?.lastValue ?? null,
    })),
  };
}

/** A human-readable status: the subscription, then a line per table (state, handler, copy, errors). */
export function formatStatus(s: SubscriptionStatus): string {
  const lines = [
    `subscription ${s.subscription} (queue ${s.queue}): tick ${s.appliedTick ?? '-'}, ${s.eventsApplied} events applied` +
      (s.lagSeconds !== null
        ? `, lag ${s.lagSeconds.toFixed(1)} s (tick ${(s.tickLagSeconds ?? 0).toFixed(1)} s), ~${s.pendingEvents} pending`
        : ''),
  ];
  if (s.currentBatch !== null) lines.push(`  batch ${s.currentBatch} open for ${(s.batchAgeSeconds ?? 0).toFixed(1)} s`);
  if (s.lastError) lines.push(`  ERROR ${s.lastError}`);
  if (s.providerError) lines.push(`  ERROR provider: ${s.providerError}`);
  for (const t of s.tables) {
    const args = Object.entries(t.handlerArgs).map(([k, v]) => `${k}=${v}`);
    let line = `  ${t.source} -> ${t.dest}: ${t.state}, handler ${t.handler}${args.length ? ` (${args.join(' ')})` : ''}`;
    if (t.copy) {
      const mb = (t.copy.bytes / 1e6).toFixed(1);
      line += `, copy ${t.copy.rows}${t.copy.estimatedRows !== null ? `/${t.copy.estimatedRows}` : ''} rows, ${mb} MB, ${Math.round(t.copy.rate)} rows/s`;
      if (t.copy.committedRows !== undefined) {
        line += `, committed ${t.copy.committedRows} rows${t.copy.percent != null ? ` (${t.copy.percent.toFixed(1)}%)` : ''}`;
        if (t.copy.resumes) line += `, resumed ${t.copy.resumes}x (${t.copy.resumedRows} rows kept)`;
      }
      if (t.state === 'in-copy' && t.copy.etaSeconds !== null) line += `, ETA ${Math.round(t.copy.etaSeconds)} s`;
    }
    if (t.missingUpdates || t.missingDeletes) line += `, missing rows: ${t.missingUpdates} updates, ${t.missingDeletes} deletes`;
    if (t.lastError) line += `\n    ERROR ${t.lastError}`;
    lines.push(line);
  }
  for (const q of s.sequences) {
    lines.push(`  sequence ${q.source} -> ${q.dest}: subscriber ${q.subscriberValue ?? '-'}, provider ${q.providerValue ?? '-'} (${q.lastValue ?? '-'} at the last batch)`);
  }
  return lines.join('\n');
}
