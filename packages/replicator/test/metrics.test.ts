import { describe, expect, it } from 'vitest';
import { ReplicationWorker } from '../src/worker/replication-worker.js';
import { replicationMetrics, serveMetrics } from '../src/status/metrics.js';

describe('metrics', () => {
  it('exposes the worker stats in the Prometheus format', async () => {
    // Not started: no connection is made; the stats are what a running worker would update.
    const worker = new ReplicationWorker({
      subscriptions: [{ subscription: 'leaf1', provider: 'postgres://127.0.0.1:1/p', subscriber: 'postgres://127.0.0.1:1/s' }],
    });
    const s = worker.subscriptions[0]!.stats;
    s.batches = 3;
    s.applied = 42;
    s.inserted = 40;
    s.missingDeletes = 1;
    const registry = replicationMetrics(worker);
    const server = await serveMetrics(registry, 0);
    try {
      const addr = server.address() as { port: number };
      const text = await (await fetch(`http://127.0.0.1:${addr.port}/metrics`)).text();
      expect(text).toContain('pgferry_replication_batches_total{subscription="leaf1"} 3');
      expect(text).toContain('pgferry_replication_events_total{subscription="leaf1"} 42');
      expect(text).toContain('pgferry_replication_rows_total{subscription="leaf1",op="insert"} 40');
      expect(text).toContain('pgferry_replication_missing_rows_total{subscription="leaf1",op="delete"} 1');
      expect(text).toContain('pgferry_replication_failing{subscription="leaf1"} 0');
    } finally {
      server.close();
      await worker.stop();
    }
  });
});
