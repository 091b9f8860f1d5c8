/**
 * @pgferry/replicator — Londiste-style replication on pgferry queues: capture triggers on the
 * provider (root), initial copy with catch-up and batched, coalesced apply on subscribers
 * (leaves), and a worker daemon serving several subscriptions.
 */
export {
  addTable,
  createLeafNode,
  createRootNode,
  dropLeafNode,
  leafNode,
  listNodes,
  listTables,
  removeTable,
  resyncTable,
  rootNode,
  tableInfo,
} from './setup.js';
export type { AddTableOptions, DropLeafResult, NodeInfo } from './setup.js';
export { checkNodeName, copyConsumerName, isCopyConsumerOf, maxNodeNameLength } from './node-name.js';
export type { SubscribedTable, TableState } from './tables-model.js';
export { SubscriptionWorker } from './subscription.js';
export type { SubscriptionStats, SubscriptionWorkerOptions } from './subscription.js';
export { ReplicationWorker } from './worker.js';
export type { ReplicationWorkerOptions } from './worker.js';
export { getStatus, formatStatus } from './status.js';
export type { SubscriptionStatus, TableStatus } from './status.js';
export type { CopyProgress } from './copy.js';
export { ApplyError, NodeNotFoundError, ReplicationSetupError, SubscriptionInUseError } from './errors.js';
export { createPool, createSubscriberPool } from './db.js';
export type { ConnectionConfig, ConnectionTimeouts } from './db.js';
export { DEFAULT_TIMEOUTS } from './db.js';
export { parseSnapshot, visibleInSnapshot } from './snapshot.js';
export { Coalescer } from './coalesce.js';
export { replicationMetrics, serveMetrics } from './metrics.js';
