/** The replicator's SQL statements, kept in ../sql/*.sql and read once. */
import { sqlFiles } from '@pgferry/queue';

export const sql = sqlFiles(new URL('../sql/', import.meta.url));
