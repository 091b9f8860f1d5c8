/**
 * Prometheus metrics of a replication worker, read from its stats at each scrape (and, for
 * the tables' states, from its subscribers). Served by @pgferry/queue/metrics' serveMetrics,
 * the one metrics server of pgferry's daemons.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { within } from '@pgferry/queue';
import { registerTickerMetrics, type TickerSource } from '@pgferry/queue/metrics';
import { sql } from '../sql.js';
import { toSubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';
import { listSequences, readSequenceValues } from '../stream/sequences.js';
import type { SubscriptionStats, SubscriptionWorker } from '../worker/subscription-worker.js';

/** What the metrics read: a ReplicationWorker, or the CLI's worker daemon. */
export interface ReplicationSource {
  stats(): SubscriptionStats[];
  readonly subscriptions: readonly SubscriptionWorker[];
  /** The tickers the worker runs (one per provider). */
  readonly tickers: readonly TickerSource[];
}

/** A scrape waits this long at most for a subscriber's table states (ms). */
const TABLE_STATE_TIMEOUT_MS = 5000;

function counter(registry: Registry, name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, v) => this.inc(labels, v));
    },
  });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, v) => this.set(labels, v));
    },
  });
}

export function replicationMetrics(worker: ReplicationSource, registry = new Registry()): Registry {
  const each = (fn: (s: SubscriptionStats, set: (l: Record<string, string>, v: number) => void) => void) =>
    (set: (l: Record<string, string>, v: number) => void) => {
      for (const s of worker.stats()) fn(s, set);
    };
  counter(registry, 'pgferry_replication_batches_total', 'Batches applied by the main stream', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.batches)));
  counter(registry, 'pgferry_replication_ordered_batches_total', 'Batches applied event by event in the provider order (their changes depend on it)', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.orderedBatches)));
  counter(registry, 'pgferry_replication_events_total', 'Events applied by the main stream', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.applied)));
  counter(registry, 'pgferry_replication_rows_total', 'Rows written on the subscriber after coalescing', ['subscription', 'op'],
    each((s, set) => {
      set({ subscription: s.subscription, op: 'insert' }, s.inserted);
      set({ subscription: s.subscription, op: 'update' }, s.updated);
      set({ subscription: s.subscription, op: 'delete' }, s.deleted);
    }));
  counter(registry, 'pgferry_replication_missing_rows_total', 'Updates and deletes that found no row on the subscriber', ['subscription', 'op'],
    each((s, set) => {
      set({ subscription: s.subscription, op: 'update' }, s.missingUpdates);
      set({ subscription: s.subscription, op: 'delete' }, s.missingDeletes);
    }));
  counter(registry, 'pgferry_replication_rewinds_total', 'Times the subscriber was behind its provider\'s position (restored from a backup) and the stream replayed from its own', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.rewinds)));
  counter(registry, 'pgferry_replication_errors_total', 'Errors (apply, copy, connection), each retried', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.errors)));
  counter(registry, 'pgferry_replication_connection_errors_total', 'Errors of a lost, refused or unanswering connection (either side), each retried', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.connectionErrors)));
  gauge(registry, 'pgferry_replication_failing', '1 while the last attempt of some part of the worker failed', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.failing.length ? 1 : 0)));
  gauge(registry, 'pgferry_replication_scope_failing', '1 for each part of the worker (main, supervisor, lock, a table) whose last attempt failed', ['subscription', 'scope'],
    each((s, set) => {
      for (const scope of s.failing) set({ subscription: s.subscription, scope }, 1);
    }));
  gauge(registry, 'pgferry_replication_last_error_age_seconds', 'Seconds since the last error', ['subscription'],
    each((s, set) => {
      if (s.lastErrorAt) set({ subscription: s.subscription }, (Date.now() - s.lastErrorAt.getTime()) / 1000);
    }));
  gauge(registry, 'pgferry_replication_node_info', 'The node a subscription is, and the provider it reads from now (1; a hop of the cascade)', ['subscription', 'node_type', 'provider'],
    each((s, set) => {
      if (s.nodeType) set({ subscription: s.subscription, node_type: s.nodeType, provider: s.providerNode ?? '' }, 1);
    }));
  gauge(registry, 'pgferry_replication_provider_up', '1 while the provider the subscription reads from answers, 0 while it cannot be reached', ['subscription', 'provider'],
    each((s, set) => {
      if (s.providerUp !== null && s.nodeType !== 'root') set({ subscription: s.subscription, provider: s.providerNode ?? '' }, s.providerUp ? 1 : 0);
    }));
  gauge(registry, 'pgferry_replication_active', '1 while this worker holds the subscription (its lock)', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.active ? 1 : 0)));
  gauge(registry, 'pgferry_replication_last_batch_age_seconds', 'Seconds since the last applied batch', ['subscription'],
    each((s, set) => {
      if (s.lastBatchAt) set({ subscription: s.subscription }, (Date.now() - s.lastBatchAt.getTime()) / 1000);
    }));
  gauge(registry, 'pgferry_replication_copy_rows', 'Rows copied so far by copies in progress', ['subscription', 'table'],
    each((s, set) => {
      for (const c of s.copies) set({ subscription: s.subscription, table: c.table }, c.rows);
    }));
  gauge(registry, 'pgferry_replication_copy_bytes', 'Bytes copied so far by copies in progress', ['subscription', 'table'],
    each((s, set) => {
      for (const c of s.copies) set({ subscription: s.subscription, table: c.table }, c.bytes);
    }));
  gauge(registry, 'pgferry_replication_copy_committed_rows', 'Rows committed so far by chunked copies in progress (kept across restarts)', ['subscription', 'table'],
    each((s, set) => {
      for (const c of s.copies) if (c.committedRows !== undefined) set({ subscription: s.subscription, table: c.table }, c.committedRows);
    }));
  gauge(registry, 'pgferry_replication_copy_resumes', 'Times chunked copies in progress resumed after their last committed key', ['subscription', 'table'],
    each((s, set) => {
      for (const c of s.copies) if (c.resumes !== undefined) set({ subscription: s.subscription, table: c.table }, c.resumes);
    }));
  gauge(registry, 'pgferry_replication_tables_catching_up', 'Tables catching up after their copy', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.catchingUp.length)));
  new Gauge({
    name: 'pgferry_replication_table_state',
    help: "1 for each replicated table's state (in-copy, catching-up, ok), with the handler that lands its changes",
    labelNames: ['subscription', 'table', 'state', 'handler'],
    registers: [registry],
    async collect() {
      this.reset();
      // Read from each subscriber: any worker (active or standing by) shows the same truth.
      // A subscriber that does not answer leaves its tables out (pgferry_replication_failing
      // and the worker's log say why).
      await Promise.all(
        worker.subscriptions.map(async (s) => {
          let rows: SubscriberTableRow[] | undefined;
          const read = s.subscriber.query<SubscriberTableRow>(sql('subscriber_tables'), [s.name]).then((r) => (rows = r.rows));
          if (!(await within(read, TABLE_STATE_TIMEOUT_MS)) || !rows) return;
          for (const t of rows.map(toSubscribedTable)) {
            this.set({ subscription: s.name, table: t.dest, state: t.state, handler: t.handler }, 1);
          }
        }),
      );
    },
  });
  new Gauge({
    name: 'pgferry_replication_sequence_value',
    help: "A replicated sequence's last value on each side (side: provider, subscriber); the subscriber's is never behind the provider's as of the applied tick",
    labelNames: ['subscription', 'sequence', 'side'],
    registers: [registry],
    async collect() {
      this.reset();
      // As the table states: read from each subscriber, and from the provider while it
      // answers; a side that does not answer in time is left out.
      await Promise.all(
        worker.subscriptions.map(async (s) => {
          let values: { source: string; subscriber?: string | null; provider?: string | null }[] | undefined;
          const read = (async () => {
            const seqs = await listSequences(s.subscriber, s.name);
            if (!seqs.length) return (values = []);
            const sub = await readSequenceValues(s.subscriber, seqs.map((q) => q.dest));
            const reads = s.stats.nodeType !== 'root' && s.stats.providerUp === true;
            const prov = reads ? await readSequenceValues(s.provider, seqs.map((q) => q.source)).catch(() => undefined) : undefined;
            values = seqs.map((q) => ({ source: q.source, subscriber: sub.get(q.dest)?.lastValue, provider: prov?.get(q.source)?.lastValue }));
            return values;
          })();
          if (!(await within(read, TABLE_STATE_TIMEOUT_MS)) || !values) return;
          for (const v of values) {
            for (const side of ['provider', 'subscriber'] as const) {
              const value = v[side];
              if (value !== undefined && value !== null) this.set({ subscription: s.name, sequence: v.source, side }, Number(value));
            }
          }
        }),
      );
    },
  });
  registerTickerMetrics(registry, () => [...worker.tickers]);
  return registry;
}
