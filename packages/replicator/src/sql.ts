/** The replicator's SQL statements, kept in ../sql/queries/*.sql and read once. */
import { sqlFiles } from '@pgferry/queue';

export const sql = sqlFiles(new URL('../sql/queries/', import.meta.url));
