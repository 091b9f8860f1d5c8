/**
 * Install, upgrade and uninstall the SQL layer from TypeScript. Install and upgrade are
 * the same operation: the bundle applies the migrations a database lacks and replaces
 * every function. Running it twice, or from two processes at once, is safe.
 */
import createDebug from 'debug';
import type pg from 'pg';
import { bundleSql, componentSql, migrations, type Migration } from './bundle.js';
import { translateError } from './errors.js';

const debug = createDebug('pgferry:install');

/** A pool, a client, or a pool client: anything with `query`. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>;

export interface InstallResult {
  /** pgferry.version() after the install. */
  version: string;
  /** Migrations that were not there when this call began (empty when up to date). */
  applied: number[];
  /**
   * Whether DDL on captured tables is followed by event triggers (pgferry.capture_ddl_follow):
   * false where the installing role may not create them, or someone turned it off.
   */
  ddlFollowed: boolean;
}

/** Install or upgrade pgferry in the connected database. */
export async function install(db: Queryable): Promise<InstallResult> {
  const before = new Set(await appliedMigrations(db));
  try {
    // One simple-protocol query: the bundle is its own transaction (BEGIN ... COMMIT).
    await db.query(bundleSql());
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw translateError(err);
  }
  const after = await appliedMigrations(db);
  const applied = after.filter((id) => !before.has(id));
  const version = await installedVersion(db);
  const { rows } = await db.query<{ followed: boolean }>('SELECT pgferry._capture_ddl_followed() AS followed');
  const ddlFollowed = rows[0]?.followed ?? false;
  debug('installed pgferry %s (applied migrations: %o; DDL followed: %s)', version, applied, ddlFollowed);
  return { version: version ?? 'unknown', applied, ddlFollowed };
}

/**
 * Install or upgrade a component built on the SQL layer (see componentSql): pgferry first,
 * then the component's migrations it lacks. Safe to run twice or from two processes.
 */
export async function installComponent(db: Queryable, component: string, list: Migration[], extra?: string): Promise<InstallResult> {
  const core = await install(db);
  try {
    await db.query(componentSql(component, list, extra));
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw translateError(err);
  }
  return core;
}

/**
 * Drops schemas pgq and pgq_coop when they are pgferry's (see pgq.ts), never the real PGQ's
 * (they are told apart by a function only pgferry's has).
 */
export const DROP_PGQ_SQL = `DO $pgferry_drop_pgq$ BEGIN
  IF pg_catalog.to_regprocedure('pgq._triga_args(text[])') IS NOT NULL THEN
    DROP SCHEMA IF EXISTS pgq_coop CASCADE;
    DROP SCHEMA pgq CASCADE;
  END IF;
END $pgferry_drop_pgq$`;

/**
 * Remove pgferry and all its queues and events from the database, with the PGQ
 * compatibility schemas built on it (not the real PGQ's). Roles are kept.
 */
export async function uninstall(db: Queryable): Promise<void> {
  await db.query(DROP_PGQ_SQL);
  await db.query('DROP SCHEMA IF EXISTS pgferry CASCADE');
  debug('uninstalled pgferry');
}

/** The installed version, or null when pgferry is not installed. */
export async function installedVersion(db: Queryable): Promise<string | null> {
  const { rows } = await db.query<{ installed: boolean }>(
    `SELECT pg_catalog.to_regprocedure('pgferry.version()') IS NOT NULL AS installed`,
  );
  if (!rows[0]?.installed) return null;
  const res = await db.query<{ version: string }>('SELECT pgferry.version() AS version');
  return res.rows[0]?.version ?? null;
}

/** Migrations this package would apply to a database that has none. */
export function knownMigrations(): number[] {
  return migrations().map((m) => m.id);
}

async function appliedMigrations(db: Queryable): Promise<number[]> {
  const { rows } = await db.query<{ exists: boolean }>(
    `SELECT pg_catalog.to_regclass('pgferry.migration') IS NOT NULL AS exists`,
  );
  if (!rows[0]?.exists) return [];
  const res = await db.query<{ id: number }>('SELECT id FROM pgferry.migration ORDER BY id');
  return res.rows.map((r) => r.id);
}
