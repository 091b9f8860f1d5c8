/**
 * The whole SQL layer as one script: migrations (each applied once, recorded in
 * pgferry.migration), then every function (CREATE OR REPLACE), then roles and grants, in
 * one transaction serialized by an advisory lock. The TypeScript installer runs exactly
 * this script, and a DBA can run it with `psql -v ON_ERROR_STOP=1 -f pgferry.sql`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Root of the .sql files (next to src/ and dist/). */
export const SQL_DIR = fileURLToPath(new URL('../sql/', import.meta.url));

/** Advisory lock key held while installing: two installers at once run one after the other. */
export const INSTALL_LOCK_KEY = 0x70676672; // "pgfr"

function sqlFiles(dir: string): { name: string; sql: string }[] {
  const full = path.join(SQL_DIR, dir);
  return readdirSync(full)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => ({ name: f, sql: readFileSync(path.join(full, f), 'utf8') }));
}

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export function migrations(): Migration[] {
  return sqlFiles('migrations').map(({ name, sql }) => {
    const m = /^(\d+)_(.+)\.sql$/.exec(name);
    if (!m) throw new Error(`migration file name must be NNN_name.sql: ${name}`);
    if (sql.includes('$pgferry_migration$')) throw new Error(`${name} must not contain $pgferry_migration$`);
    return { id: Number(m[1]), name: m[2]!, sql };
  });
}

export function bundleSql(): string {
  const parts: string[] = [
    '-- pgferry SQL layer: generated from packages/sql/sql by bundleSql(); do not edit.',
    'BEGIN;',
    // Everything below (migrations' defaults and checks, DO blocks, function signatures)
    // resolves names through this path: a schema the installing role's search_path puts
    // first (CREATE on public) cannot shadow a built-in function, operator or type.
    'SET LOCAL search_path = pg_catalog, pg_temp;',
    `SELECT pg_catalog.pg_advisory_xact_lock(${INSTALL_LOCK_KEY});`,
    'CREATE SCHEMA IF NOT EXISTS pgferry;',
    'CREATE TABLE IF NOT EXISTS pgferry.migration (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());',
  ];
  for (const m of migrations()) {
    parts.push(
      `-- migration ${m.id}: ${m.name}`,
      'DO $pgferry_do$ BEGIN',
      `  IF NOT EXISTS (SELECT 1 FROM pgferry.migration WHERE id = ${m.id}) THEN`,
      `    EXECUTE $pgferry_migration$\n${m.sql}\n$pgferry_migration$;`,
      `    INSERT INTO pgferry.migration (id, name) VALUES (${m.id}, '${m.name.replace(/'/g, "''")}');`,
      '  END IF;',
      'END $pgferry_do$;',
    );
  }
  for (const f of sqlFiles('functions')) parts.push(`-- functions/${f.name}`, f.sql);
  parts.push(
    '-- grants.sql',
    readFileSync(path.join(SQL_DIR, 'grants.sql'), 'utf8'),
    '-- capture trigger functions are generated: regenerate them with this version\'s code',
    'SELECT pgferry._capture_refresh();',
    'COMMIT;',
    '',
  );
  return parts.join('\n');
}
