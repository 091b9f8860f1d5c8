/**
 * @pgferry/replicator — Londiste-style replication on pgferry queues.
 */
export {};
