/** Prometheus metrics of a replication worker, read from its stats at each scrape. */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ReplicationWorker } from '../worker/replication-worker.js';

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

export function replicationMetrics(worker: ReplicationWorker, registry = new Registry()): Registry {
  const each = (fn: (s: ReturnType<ReplicationWorker['stats']>[number], set: (l: Record<string, string>, v: number) => void) => void) =>
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
  gauge(registry, 'pgferry_replication_tables_catching_up', 'Tables catching up after their copy', ['subscription'],
    each((s, set) => set({ subscription: s.subscription }, s.catchingUp.length)));
  return registry;
}

/** Serve /metrics on 127.0.0.1:port (or the given host). */
export function serveMetrics(registry: Registry, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
