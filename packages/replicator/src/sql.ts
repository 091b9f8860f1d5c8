/** The replicator's SQL statements, kept in ../sql/queries/*.sql and read once. */
import { sqlFiles } from '@pgferry/queue';

export const sql = sqlFiles(new URL('../sql/queries/', import.meta.url));

/**
 * A statement each connection prepares once and keeps planned (node-postgres sends it by
 * name after the first use): for catalog reads of fixed columns that run at every batch,
 * whose planning was most of their cost. Not for `SELECT *` of pgferry's own tables: an
 * upgrade adding a column would fail a kept plan ("cached plan must not change result type").
 */
export function prepared(name: string): { name: string; text: string } {
  return { name: `pgferry_${name}`, text: sql(name) };
}
