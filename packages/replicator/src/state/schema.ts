/**
 * The replicator's schema objects in a database (node, table, position and status tables):
 * its own versioned migrations (../../sql/migrations), applied on top of the SQL layer.
 */
import { fileURLToPath } from 'node:url';
import { installComponent, readMigrations, type InstallResult, type Queryable } from '@pgferry/queue';

const MIGRATIONS = fileURLToPath(new URL('../../sql/migrations/', import.meta.url));

/** Install or upgrade pgferry and the replicator's state in the connected database. */
export function installReplication(db: Queryable): Promise<InstallResult> {
  return installComponent(db, 'replicator', readMigrations(MIGRATIONS));
}
