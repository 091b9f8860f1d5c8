/**
 * Queue and consumer figures read from SQL (getQueueInfo/getConsumerInfo) when Prometheus
 * scrapes: nothing is polled between scrapes. One read per database per scrape, shared by
 * all the gauges (prom-client collects them in parallel; see snapshot()).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import createDebug from 'debug';
import { getConsumerInfo, getQueueInfo, type ConsumerInfo, type QueueInfo } from '../admin.js';
import type { Queryable } from '../db.js';

const debug = createDebug('pgferry:metrics');

/** A database to read queue figures from; `name` is the `database` label. */
export interface MetricsSource {
  name: string;
  db: Queryable;
}

interface Snapshot {
  sources: { name: string; ok: boolean; queues: QueueInfo[]; consumers: ConsumerInfo[] }[];
}

export interface QueueMetricsOptions {
  /** Databases to read, asked again at each scrape (the daemon's list changes on reload). */
  sources: () => MetricsSource[];
  /** A scrape gives up on a database after this long (ms). Default 5000. */
  timeoutMs?: number;
}

/** Register queue, consumer and database-up metrics on `registry`. */
export function registerQueueMetrics(registry: Registry, options: QueueMetricsOptions): void {
  const timeoutMs = options.timeoutMs ?? 5000;
  let current: Promise<Snapshot> | undefined;
  const scrapeErrors = new Map<string, number>();

  async function read(src: MetricsSource): Promise<Snapshot['sources'][number]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const work = Promise.all([getQueueInfo(src.db), getConsumerInfo(src.db)]);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      const [queues, consumers] = await Promise.race([work, timeout]);
      return { name: src.name, ok: true, queues, consumers };
    } catch (err) {
      debug('scrape of %s failed: %s', src.name, (err as Error).message);
      scrapeErrors.set(src.name, (scrapeErrors.get(src.name) ?? 0) + 1);
      return { name: src.name, ok: false, queues: [], consumers: [] };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One read per scrape. registry.metrics() starts every metric's collect() in registration
   * order before awaiting any: pgferry_database_up, registered first, starts the read and
   * the others share it.
   */
  function newSnapshot(): Promise<Snapshot> {
    current = Promise.all(options.sources().map(read)).then((sources) => ({ sources }));
    return current;
  }
  function snapshot(): Promise<Snapshot> {
    return current ?? newSnapshot();
  }

  type Q = QueueInfo & { database: string };
  type C = ConsumerInfo & { database: string };
  const queueLabels = ['database', 'queue'] as const;
  const consumerLabels = ['database', 'queue', 'consumer'] as const;

  function queueGauge(name: string, help: string, value: (q: Q) => number | null): void {
    new Gauge({
      name,
      help,
      labelNames: queueLabels,
      registers: [registry],
      async collect() {
        const snap = await snapshot();
        this.reset();
        for (const s of snap.sources) {
          for (const q of s.queues) {
            // A damaged queue's missing figures are left out (pgferry_queue_status_error says so).
            const v = value({ ...q, database: s.name });
            if (v !== null && Number.isFinite(v)) this.set({ database: s.name, queue: q.queueName }, v);
          }
        }
      },
    });
  }

  function consumerGauge(name: string, help: string, value: (c: C) => number | null): void {
    new Gauge({
      name,
      help,
      labelNames: consumerLabels,
      registers: [registry],
      async collect() {
        const snap = await snapshot();
        this.reset();
        for (const s of snap.sources) {
          for (const c of s.consumers) {
            const v = value({ ...c, database: s.name });
            if (v !== null) this.set({ database: s.name, queue: c.queueName, consumer: c.consumerName }, v);
          }
        }
      },
    });
  }

  new Gauge({
    name: 'pgferry_database_up',
    help: 'Whether the last scrape could read pgferry status from the database (1) or not (0)',
    labelNames: ['database'],
    registers: [registry],
    async collect() {
      const snap = await newSnapshot();
      this.reset();
      for (const s of snap.sources) this.set({ database: s.name }, s.ok ? 1 : 0);
    },
  });
  new Counter({
    name: 'pgferry_metrics_scrape_errors_total',
    help: 'Scrapes that could not read pgferry status from the database',
    labelNames: ['database'],
    registers: [registry],
    async collect() {
      await snapshot();
      this.reset();
      for (const s of options.sources()) this.inc({ database: s.name }, scrapeErrors.get(s.name) ?? 0);
    },
  });

  // The event-id counter only grows (a sequence): rate() of it is events inserted per second.
  new Counter({
    name: 'pgferry_queue_events_total',
    help: "Events inserted into the queue (its event-id counter; rate() gives events/s; includes rolled-back inserts' ids)",
    labelNames: queueLabels,
    registers: [registry],
    async collect() {
      const snap = await snapshot();
      this.reset();
      for (const s of snap.sources) {
        for (const q of s.queues) if (q.statusError === null) this.inc({ database: s.name, queue: q.queueName }, q.eventSeq);
      }
    },
  });
  queueGauge('pgferry_queue_events_not_ticked', 'Events inserted since the last tick (not in any batch yet)', (q) => q.eventsSinceTick);
  new Gauge({
    name: 'pgferry_queue_pending_events',
    help: 'Events inserted after the position of the slowest consumer (0 without consumers)',
    labelNames: queueLabels,
    registers: [registry],
    async collect() {
      const snap = await snapshot();
      this.reset();
      for (const s of snap.sources) {
        for (const q of s.queues) {
          const pending = s.consumers.filter((c) => c.queueName === q.queueName).map((c) => c.pendingEvents);
          this.set({ database: s.name, queue: q.queueName }, Math.max(0, ...pending));
        }
      }
    },
  });
  new Gauge({
    name: 'pgferry_queue_pending_age_seconds',
    help: 'Age of the oldest event a consumer of the queue has yet to consume, the slowest consumer\'s (0 when all are caught up or without consumers)',
    labelNames: queueLabels,
    registers: [registry],
    async collect() {
      const snap = await snapshot();
      this.reset();
      for (const s of snap.sources) {
        for (const q of s.queues) {
          const ages = s.consumers.filter((c) => c.queueName === q.queueName).map((c) => c.pendingAgeSeconds);
          this.set({ database: s.name, queue: q.queueName }, Math.max(0, ...ages));
        }
      }
    },
  });
  queueGauge('pgferry_queue_ticker_lag_seconds', 'Seconds since the queue\'s last tick', (q) => q.tickerLagSeconds);
  queueGauge('pgferry_queue_last_tick_id', 'Id of the queue\'s last tick', (q) => (q.lastTickId == null ? null : Number(q.lastTickId)));
  queueGauge('pgferry_queue_ticker_max_lag_seconds', 'ticker_max_lag setting', (q) => q.tickerMaxLagSeconds);
  queueGauge('pgferry_queue_ticker_idle_period_seconds', 'ticker_idle_period setting: an idle queue still ticks this often', (q) => q.tickerIdlePeriodSeconds);
  queueGauge('pgferry_queue_ticker_paused', '1 when the queue\'s ticker is paused or external', (q) => Number(q.tickerPaused || q.externalTicker));
  queueGauge('pgferry_queue_current_table', 'Event table producers write to now (0-based)', (q) => q.curTable);
  queueGauge('pgferry_queue_event_tables', 'Number of rotating event tables', (q) => q.ntables);
  queueGauge('pgferry_queue_last_rotation_timestamp_seconds', 'Unix time of the last event-table switch', (q) => q.switchTime.getTime() / 1000);
  queueGauge('pgferry_queue_rotation_period_seconds', 'rotation_period setting', (q) => q.rotationPeriodSeconds);
  queueGauge('pgferry_queue_consumers', 'Registered consumers', (q) => q.consumers);
  queueGauge('pgferry_queue_retry_pending', 'Events waiting for their retry time', (q) => q.retryPending);
  queueGauge('pgferry_queue_dead_letters', 'Events in the dead-letter table', (q) => q.deadLetters);
  new Gauge({
    name: 'pgferry_queue_rotation_blocked',
    help: '1 when rotation is overdue and held back by this consumer (unregister it to cut it loose)',
    labelNames: consumerLabels,
    registers: [registry],
    async collect() {
      const snap = await snapshot();
      this.reset();
      for (const s of snap.sources) {
        for (const q of s.queues) {
          if (q.rotationBlocker.kind === 'consumer' && q.rotationBlockedBy) {
            this.set({ database: s.name, queue: q.queueName, consumer: q.rotationBlockedBy }, 1);
          }
        }
      }
    },
  });
  new Gauge({
    name: 'pgferry_queue_rotation_blocker_seconds',
    help:
      'Rotation is overdue and held back by this kind of blocker, for this many seconds (snapshot, transaction, lock: ' +
      'a session, see `pgferry queue status`; consumer: a consumer behind the last switch; maintenance, ticker: not running)',
    labelNames: ['database', 'queue', 'kind'],
    registers: [registry],
    async collect() {
      const snap = await snapshot();
      this.reset();
      for (const s of snap.sources) {
        for (const q of s.queues) {
          const b = q.rotationBlocker;
          if (b.kind === null || b.kind === 'not_due') continue;
          this.set({ database: s.name, queue: q.queueName, kind: b.kind }, b.ageSeconds ?? 0);
        }
      }
    },
  });
  queueGauge('pgferry_queue_status_error', '1 when some of the queue\'s figures could not be read (a damaged queue; see `pgferry queue status`)', (q) => Number(q.statusError !== null));

  consumerGauge(
    'pgferry_consumer_lag_seconds',
    'Seconds between now and the consumer\'s position tick (PGQ\'s lag: grows between idle ticks of a quiet queue; see pgferry_consumer_pending_age_seconds)',
    (c) => c.lagSeconds,
  );
  consumerGauge(
    'pgferry_consumer_pending_age_seconds',
    'Age of the oldest event the consumer has yet to consume, from the tick that brought it (0 when caught up)',
    (c) => c.pendingAgeSeconds,
  );
  consumerGauge('pgferry_consumer_pending_events', 'Events inserted after the consumer\'s position (an estimate)', (c) => c.pendingEvents);
  consumerGauge('pgferry_consumer_ticks_behind', 'Ticks after the consumer\'s position', (c) => c.ticksBehind);
  consumerGauge('pgferry_consumer_last_seen_seconds', 'Seconds since the consumer last asked for a batch', (c) => c.lastSeenSeconds);
  consumerGauge('pgferry_consumer_open_batch_age_seconds', 'Age of the consumer\'s open batch (absent when none)', (c) => c.batchAgeSeconds);
  consumerGauge('pgferry_consumer_retry_pending', 'The consumer\'s events waiting for their retry time', (c) => c.retryPending);
  consumerGauge('pgferry_consumer_dead_letters', 'The consumer\'s events in the dead-letter table', (c) => c.deadLetters);
}
