/** Ticker and maintenance figures of the Tickers running in this process (the daemon's). */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Ticker } from '../ticker.js';

export interface TickerSource {
  database: string;
  ticker: Ticker;
}

export function registerTickerMetrics(registry: Registry, sources: () => TickerSource[]): void {
  const gauge = (name: string, help: string, pick: (t: Ticker) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['database'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) this.set({ database: s.database }, pick(s.ticker));
      },
    });
  const counter = (name: string, help: string, pick: (t: Ticker) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['database'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) this.inc({ database: s.database }, pick(s.ticker));
      },
    });
  gauge('pgferry_ticker_connected', '1 while the ticker is connected to the database', (t) => Number(t.stats.connected));
  gauge('pgferry_ticker_leader', '1 while this process is the database\'s ticker leader', (t) => Number(t.stats.isLeader));
  counter('pgferry_ticker_ticks_total', 'Ticks made by this process', (t) => t.stats.ticks);
  counter('pgferry_ticker_rotations_total', 'Event-table rotation steps done by this process', (t) => t.stats.rotations);
  counter('pgferry_ticker_retries_moved_total', 'Retried events moved back into their queue', (t) => t.stats.retriesMoved);
  counter('pgferry_ticker_errors_total', 'Ticker errors (lost or refused connections included)', (t) => t.stats.errors);
  new Counter({
    name: 'pgferry_ticker_queue_errors_total',
    help: "Failures of one queue's tick or maintenance operation (the other queues went on; see the daemon's log)",
    labelNames: ['database', 'queue', 'operation'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) {
        for (const e of s.ticker.stats.queueErrors.values()) {
          this.inc({ database: s.database, queue: e.queue ?? '', operation: e.operation }, e.count);
        }
      }
    },
  });
}
