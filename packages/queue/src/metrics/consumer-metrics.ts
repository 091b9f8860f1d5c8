/**
 * Metrics of Consumers running in this process: batches, events, retries and dead letters
 * they handled (from `consumer.stats`, read at scrape), and the batch duration histogram
 * (fed by the `onBatch` hook).
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Consumer } from '../consumer.js';
import type { EventSchemas } from '../events.js';

type AnyConsumer = Consumer<EventSchemas>;

interface Entry {
  consumer: AnyConsumer;
  labels: Record<string, string>;
}

const byRegistry = new WeakMap<Registry, { entries: Entry[]; duration: Histogram<string> }>();

export interface InstrumentOptions {
  registry: Registry;
  /** Extra labels (e.g. { database: 'orders-db' }); queue and consumer are always set. */
  labels?: Record<string, string>;
}

function setup(registry: Registry, extraLabels: string[]) {
  let state = byRegistry.get(registry);
  if (state) return state;
  const entries: Entry[] = [];
  const labelNames = ['queue', 'consumer', ...extraLabels];
  const fromStats = (name: string, help: string, pick: (c: AnyConsumer) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const e of entries) this.inc(e.labels, pick(e.consumer));
      },
    });
  fromStats('pgferry_consumer_batches_total', 'Batches this process finished', (c) => c.stats.batches);
  fromStats('pgferry_consumer_events_processed_total', 'Events this process processed in finished batches', (c) => c.stats.events);
  fromStats('pgferry_consumer_retries_total', 'Events this process handed back for a retry', (c) => c.stats.retries);
  fromStats('pgferry_consumer_dead_lettered_total', 'Events this process moved to the dead-letter table', (c) => c.stats.deadLetters);
  fromStats('pgferry_consumer_invalid_events_total', 'Events whose payload failed decoding or validation', (c) => c.stats.invalidEvents);
  fromStats('pgferry_consumer_reconnects_total', 'Connection failures this process recovered from', (c) => c.stats.reconnects);
  const duration = new Histogram({
    name: 'pgferry_consumer_batch_duration_seconds',
    help: 'Time from opening a batch to its commit',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  state = { entries, duration };
  byRegistry.set(registry, state);
  return state;
}

/**
 * Export a Consumer's figures on `registry`. Chains any onBatch hook already set. All
 * consumers instrumented on one registry must use the same extra label names.
 */
export function instrumentConsumer(consumer: AnyConsumer, options: InstrumentOptions): void {
  const extra = options.labels ?? {};
  const state = setup(options.registry, Object.keys(extra));
  const labels = { queue: consumer.queue, consumer: consumer.name, ...extra };
  state.entries.push({ consumer, labels });
  const previous = consumer.onBatch;
  consumer.onBatch = (result) => {
    state.duration.observe(labels, result.durationMs / 1000);
    previous?.(result);
  };
}
