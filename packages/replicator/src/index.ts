/**
 * @pgferry/replicator — Londiste-style replication on pgferry queues: capture triggers on the
 * provider (root), initial copy with catch-up and batched, coalesced apply through handlers
 * on subscribers (leaves), and a worker daemon serving several subscriptions.
 *
 * Layout: admin/ (nodes and tables), state/ (the replication state a subscriber keeps),
 * stream/ (reading and applying a batch), handlers/ (how changes land), copy/ (initial
 * copy), worker/ (the processes), status/ (status and metrics), cli/.
 */
export { createBranchNode, createLeafNode, createRootNode, dropLeafNode, listNodes, providerNode, rootNode, subscriberNode } from './admin/nodes.js';
export type { CreateSubscriberNodeOptions, DropLeafResult, NodeInfo, NodeType } from './admin/nodes.js';
export { changeProvider, forgetNode, updateWatermark } from './admin/cascade.js';
export { resurrect, switchover, takeover } from './admin/switchover.js';
export type { LostChange, ResurrectResult, Survivor, SurvivorReport, SwitchoverOptions, SwitchoverResult, TakeoverReport } from './admin/switchover.js';
export type { ChangeProviderOptions, ChangeProviderResult } from './admin/cascade.js';
export { addTable, listTables, removeTable, resyncTable, tableInfo } from './admin/tables.js';
export { executeSql, EXECUTE_EVENT } from './admin/execute.js';
export { waitForProvider, waitForRoot, waitForSync } from './admin/wait.js';
export type { WaitOptions, WaitProgress, WaitSyncResult, WaitTickResult } from './admin/wait.js';
export { DDL_EVENT, type DdlChange, type DdlOp } from './stream/ddl.js';
export type { CaptureChange, ExecuteResult } from './admin/execute.js';
export type { AddTableOptions } from './admin/tables.js';
export { addAllSequences, addSequence, findSequence, listSequences, removeSequence } from './admin/sequences.js';
export type { AddAllSequencesOptions, AddSequenceOptions } from './admin/sequences.js';
export type { SubscribedSequence } from './state/subscribed-sequence.js';
export { checkNodeName, copyConsumerName, isCopyConsumerOf, maxNodeNameLength, watermarkConsumerName } from './admin/node-name.js';
export { installReplication } from './state/schema.js';
export { replicationMigrationIds } from './state/migrations.js';
export type { SubscribedTable, TableState } from './state/subscribed-table.js';
export { parseSnapshot, visibleInSnapshot } from './state/snapshot.js';
export { SubscriptionWorker } from './worker/subscription-worker.js';
export type { SubscriptionStats, SubscriptionWorkerOptions } from './worker/subscription-worker.js';
export { ReplicationWorker, providerTicker } from './worker/replication-worker.js';
export type { ReplicationWorkerOptions } from './worker/replication-worker.js';
export { getStatus, formatStatus } from './status/status.js';
export type { SequenceStatus, SubscriptionStatus, TableStatus } from './status/status.js';
export { replicationMetrics } from './status/metrics.js';
export { providerSources, replicationConsoleView } from './status/console-view.js';
export type { ReplicationConsoleSource, SubscriptionConsoleState } from './status/console-view.js';
export type { ReplicationSource } from './status/metrics.js';
export type { CopyProgress } from './copy/copy-table.js';
export {
  ApplyError,
  MergeCollisionError,
  CaptureDriftError,
  ProviderHistoryError,
  HandlerArgsError,
  HandlerNotFoundError,
  NodeNotFoundError,
  ReplicationSetupError,
  ReplicationStateError,
  SequenceNotFoundError,
  SubscriptionInUseError,
  WaitTimeoutError,
} from './errors.js';
export { createProviderPool, createSubscriberPool } from './connections.js';
export { compareTable } from './sync/compare.js';
export type { CompareOptions, CompareProgress, CompareResult, ComparePhase } from './sync/compare.js';
export { Coalescer } from './stream/coalesce.js';
export type { KeyChange, TableChanges } from './stream/coalesce.js';
export { HandlerRegistry, BUILT_IN_HANDLERS } from './handlers/registry.js';
export { rowHandler, applyRows } from './handlers/row.js';
export { partitionHandler } from './handlers/partition.js';
export { aggregateHandler } from './handlers/aggregate.js';
export { requeueHandler } from './handlers/requeue.js';
export type { RowTarget } from './handlers/row.js';
export type {
  ApplyResult,
  BatchScope,
  CopyContext,
  CopyHooks,
  HandlerArgs,
  HandlerContext,
  HandlerDefinition,
  TableHandler,
} from './handlers/types.js';
export { emptyApplyResult, addApplyResult } from './handlers/types.js';
