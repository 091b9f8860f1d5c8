/**
 * What is installed in a database: the SQL layer's version (pgferry.version()) and the
 * migrations applied, its own and those of components built on it (the replicator's),
 * as recorded by the installer (pgferry.migration, pgferry.component_migration).
 */
import { installedVersion } from '@pgferry/sql';
import { q, type Queryable } from './db.js';
import { sql } from './sql.js';

export interface AppliedMigration {
  id: number;
  name: string;
  appliedAt: Date;
}

export interface SchemaVersion {
  /** pgferry.version(), or null when the SQL layer is not installed. */
  version: string | null;
  /** The SQL layer's migrations applied, in order. */
  migrations: AppliedMigration[];
  /** Each component's migrations applied, by component name. */
  components: Record<string, AppliedMigration[]>;
}

/** The installed version and the migrations applied in the connected database. */
export async function schemaVersion(db: Queryable): Promise<SchemaVersion> {
  const [tables] = await q<{ core: boolean; components: boolean }>(db, sql('migration_tables'));
  const version = await installedVersion(db);
  const row = (r: { id: number; name: string; applied_at: Date }): AppliedMigration => ({ id: r.id, name: r.name, appliedAt: r.applied_at });
  const migrations = tables?.core ? (await q<{ id: number; name: string; applied_at: Date }>(db, sql('applied_migrations'))).map(row) : [];
  const components: Record<string, AppliedMigration[]> = {};
  if (tables?.components) {
    for (const r of await q<{ component: string; id: number; name: string; applied_at: Date }>(db, sql('component_migrations'))) {
      (components[r.component] ??= []).push(row(r));
    }
  }
  return { version, migrations, components };
}
