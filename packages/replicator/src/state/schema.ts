/**
 * The replicator's schema objects in a database (node, table, position and status tables):
 * its own versioned migrations (../../sql/migrations), applied on top of the SQL layer.
 */
import { installComponent, readMigrations, type InstallResult, type Queryable } from '@pgferry/queue';
import { MIGRATIONS_DIR } from './migrations.js';

/** Install or upgrade pgferry and the replicator's state in the connected database. */
export function installReplication(db: Queryable): Promise<InstallResult> {
  return installComponent(db, 'replicator', readMigrations(MIGRATIONS_DIR));
}
