import { describe, expect, it } from 'vitest';
import { serveMetrics } from '@pgferry/queue/metrics';
import { ReplicationWorker } from '../src/worker/replication-worker.js';
import { replicationMetrics } from '../src/status/metrics.js';

describe('metrics', () => {
  it('exposes the worker stats in the Prometheus format, on the one metrics server (with /healthz)', async () => {
    // Not started: no connection is made; the stats are what a running worker would update.
    const worker = new ReplicationWorker({
      subscriptions: [{ subscription: 'leaf1', provider: 'postgres://127.0.0.1:1/p', subscriber: 'postgres://127.0.0.1:1/s' }],
    });
    const s = worker.subscriptions[0]!.stats;
    s.batches = 3;
    s.applied = 42;
    s.inserted = 40;
    s.missingDeletes = 1;
    s.nodeType = 'leaf';
    s.providerNode = 'branch1';
    s.providerUp = false;
    const registry = replicationMetrics(worker);
    const server = await serveMetrics({ port: 0, host: '127.0.0.1', registry });
    try {
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(text).toContain('pgferry_replication_batches_total{subscription="leaf1"} 3');
      expect(text).toContain('pgferry_replication_events_total{subscription="leaf1"} 42');
      expect(text).toContain('pgferry_replication_rows_total{subscription="leaf1",op="insert"} 40');
      expect(text).toContain('pgferry_replication_missing_rows_total{subscription="leaf1",op="delete"} 1');
      expect(text).toContain('pgferry_replication_failing{subscription="leaf1"} 0');
      // Its hop of the cascade, and a provider that does not answer (PgferryReplicationProviderDown).
      expect(text).toContain('pgferry_replication_node_info{subscription="leaf1",node_type="leaf",provider="branch1"} 1');
      expect(text).toContain('pgferry_replication_provider_up{subscription="leaf1",provider="branch1"} 0');
      // The subscriber does not answer: its tables are left out, the scrape still answers.
      expect(text).toContain('# TYPE pgferry_replication_table_state gauge');
      expect(text).not.toContain('pgferry_replication_table_state{');
      expect(text).toContain('# TYPE pgferry_ticker_connected gauge');
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
      await worker.stop();
    }
  });
});
