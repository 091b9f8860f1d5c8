/**
 * @pgferry/queue — PGQ-style queues on PostgreSQL: producer, consumer, ticker and
 * maintenance, plus typed access to every SQL entry point.
 */
export * from '@pgferry/sql';
export { Producer, COPY_MIN_EVENTS } from './producer.js';
export type { ProducerOptions, InsertOptions, NewEvent, PayloadOf } from './producer.js';
export { Consumer, Batch, BatchLostError } from './consumer.js';
export type { ConsumerOptions, ConsumerStats, RunOptions, QueueEvent, EventOf, BatchResult } from './consumer.js';
export { Ticker, runMaintenance, TICKER_LOCK_KEY } from './ticker.js';
export type { TickerOptions, TickerStats, QueueFailure, MaintenanceResult } from './ticker.js';
export { TickListener } from './tick-listener.js';
export { EventValidationError } from './events.js';
export type { EventSchemas } from './events.js';
export * from './admin.js';
export * from './status.js';
export * from './capture.js';
export * from './snapshot-tick.js';
export * from './cascade.js';
export * from './batch.js';
export * from './versions.js';
export * from './runtime/index.js';
export { sqlFiles } from './sql.js';
