/**
 * Where the replicator's migrations are, and their ids: files only, nothing imported, so
 * that `pgferry version` can name them without loading the replicator.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The replicator's migrations (NNN_name.sql), next to src/ and dist/. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/migrations/', import.meta.url));

/** The ids of the migrations installReplication applies, in order. */
export function replicationMigrationIds(): number[] {
  return readdirSync(MIGRATIONS_DIR)
    .map((f) => /^(\d+)_.+\.sql$/.exec(f)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}
