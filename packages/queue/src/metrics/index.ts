/**
 * Prometheus metrics for pgferry (prom-client). A consumer process:
 *
 *   const registry = createMetricsRegistry();
 *   instrumentConsumer(consumer, { registry });
 *   registerQueueMetrics(registry, { sources: () => [{ name: 'app', db: pool }] });
 *   await serveMetrics({ port: 9187, registry });
 */
export { MetricsEndpoint, createMetricsRegistry, serveMetrics, DEFAULT_METRICS_HOST } from './server.js';
export type { MetricsServer, ServeMetricsOptions } from './server.js';
export { registerQueueMetrics } from './queue-metrics.js';
export type { MetricsSource, QueueMetricsOptions } from './queue-metrics.js';
export { instrumentConsumer } from './consumer-metrics.js';
export type { InstrumentOptions } from './consumer-metrics.js';
export { registerTickerMetrics } from './ticker-metrics.js';
export type { TickerSource } from './ticker-metrics.js';
