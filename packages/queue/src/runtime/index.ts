/**
 * The runtime toolkit every long-running part of pgferry uses (the queue's consumer,
 * ticker and daemon, the replicator's worker): connections checked out and released safely,
 * transactions, bounded waits, retry backoff, leases and pools.
 */
export {
  ConnectionLostError,
  destroyConnection,
  inTransaction,
  isClientBroken,
  isConnectionError,
  untilLost,
  withClient,
  withTransaction,
} from './connection.js';
export { sleep, within } from './sleep.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { Lease, type LeaseOptions } from './lease.js';
export {
  DEFAULT_TIMEOUTS,
  boundedConfig,
  clientConfig,
  connectionLabel,
  createPool,
  destroyPoolConnections,
  withSessionOptions,
  type ConnectionConfig,
  type ConnectionTimeouts,
  type PoolOptions,
} from './pool.js';
