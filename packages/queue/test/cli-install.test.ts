/**
 * The real `pgferry` binary against real PostgreSQL: install, upgrade, uninstall, version;
 * connection from --db, PGFERRY_DB or PG* variables; exits for a missing install, a
 * database it cannot reach, a bad command line; --help.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { freePort } from '@pgferry/test/pg-server';
import { installedVersion, knownMigrations } from '../src/index.js';
import { pgferry, pgferryJson } from './cli-helpers.js';

interface VersionJson {
  installed: string;
  cli: string;
  latestMigration: number;
  migrations: { id: number; name: string; appliedAt: string }[];
  pendingMigrations: number[];
  components: Record<string, { installed: boolean; migrations: { id: number }[]; pendingMigrations: number[] }>;
}

describe('pgferry CLI: install and connection errors', () => {
  const db = useTestDatabase({ install: false });

  it('says how to install when pgferry is missing, installs, and reports versions', async () => {
    const missing = await pgferry(['queue', 'list', '--db', db.url]);
    expect(missing.code).toBe(4);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('not installed');
    expect(missing.stderr).toContain('pgferry install');

    const upgrade = await pgferry(['upgrade', '--db', db.url]);
    expect(upgrade.code).toBe(4);
    expect(upgrade.stderr).toContain('pgferry install');

    // The connection may also come from PGFERRY_DB.
    const inst = await pgferry(['install'], { PGFERRY_DB: db.url });
    expect(inst.code).toBe(0);
    expect(inst.stdout).toMatch(/^pgferry \d+\.\d+\.\d+ installed \(migrations applied: 1/);

    const version = await pgferryJson<VersionJson>(['version', '--db', db.url]);
    expect(version.installed).toMatch(/^\d+\.\d+\.\d+$/);
    expect(version.cli).toBe(version.installed);
    // Every migration this CLI knows, applied, and the replicator's schema not installed here.
    expect(version.migrations.map((m) => m.id)).toEqual(knownMigrations());
    expect(version.migrations[0]).toMatchObject({ id: 1, name: 'initial' });
    expect(version.latestMigration).toBe(Math.max(...knownMigrations()));
    expect(version.pendingMigrations).toEqual([]);
    expect(version.components.replicator).toMatchObject({ installed: false, migrations: [], pendingMigrations: [] });

    // ... or from the usual PG* variables.
    const u = new URL(db.url);
    const table = await pgferry(['version'], {
      PGHOST: u.hostname,
      PGPORT: u.port,
      PGUSER: decodeURIComponent(u.username),
      PGDATABASE: db.name,
    });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^CLI\s+INSTALLED\s+MIGRATIONS\s+REPLICATOR$/);
    expect(table.stdout).toContain(version.installed);
    expect(table.stdout).toContain(`${knownMigrations().length} applied`);
    expect(table.stdout).toContain('up to date');
    expect(table.stdout).toContain('not installed');

    // A migration recorded as not applied (an older install) is pending: upgrade applies it.
    const last = Math.max(...knownMigrations());
    await db.pool.query('DELETE FROM pgferry.migration WHERE id = $1', [last]);
    const older = await pgferryJson<VersionJson>(['version', '--db', db.url]);
    expect(older.pendingMigrations).toEqual([last]);
    const olderTable = await pgferry(['version', '--db', db.url]);
    expect(olderTable.stdout).toContain('1 pending');
    expect(olderTable.stdout).toContain('pgferry upgrade');
    await db.pool.query(`INSERT INTO pgferry.migration (id, name) VALUES ($1, 'put back')`, [last]);

    const again = await pgferryJson<{ appliedMigrations: number[] }>(['upgrade', '--db', db.url]);
    expect(again.appliedMigrations).toEqual([]);

    const refused = await pgferry(['uninstall', '--db', db.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    const removed = await pgferryJson<{ uninstalled: boolean }>(['uninstall', '--yes', '--db', db.url]);
    expect(removed.uninstalled).toBe(true);
    expect(await installedVersion(db.pool)).toBeNull();
  }, 120_000);

  it('exits 3 with one line when it cannot connect, and 2 on a bad command line', async () => {
    const port = await freePort();
    const down = await pgferry(['queue', 'list', '--db', `postgres://postgres@127.0.0.1:${port}/nowhere`]);
    expect(down.code).toBe(3);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toContain(`cannot connect to 127.0.0.1:${port}/nowhere`);

    const usage = await pgferry(['queue', 'create', '--db', db.url]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'queue'");

    const help = await pgferry(['consumer', 'rewind', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pgferry consumer rewind');
    expect(help.stdout).toContain('Examples:');
  });

  it('install --pgq adds the PGQ-compatible schemas; installing again or upgrading keeps and refreshes them', async () => {
    const first = await pgferry(['install', '--pgq', '--db', db.url]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/installed, with the pgq schemas/);
    const again = await pgferryJson<{ pgq: boolean; appliedMigrations: number[] }>(['install', '--pgq', '--db', db.url]);
    expect(again).toMatchObject({ pgq: true, appliedMigrations: [] });
    const { rows } = await db.pool.query<{ v: string; coop: string }>('SELECT pgq.version() AS v, pgq_coop.version() AS coop');
    expect(rows[0]).toEqual({ v: '3.5.2', coop: '3.4.1' });
    expect((await db.pool.query(`SELECT pgq.create_queue('from_cli')`)).rows[0]).toEqual({ create_queue: 1 });
    // Installed once, they are refreshed by every upgrade and install (they wrap pgferry's functions).
    await db.pool.query(`CREATE OR REPLACE FUNCTION pgq.version() RETURNS text LANGUAGE sql AS $$ SELECT 'stale' $$`);
    expect(await pgferryJson<{ pgq: boolean }>(['upgrade', '--db', db.url])).toMatchObject({ pgq: true });
    expect((await db.pool.query('SELECT pgq.version() AS v')).rows[0]).toEqual({ v: '3.5.2' });
    await db.pool.query(`CREATE OR REPLACE FUNCTION pgq.version() RETURNS text LANGUAGE sql AS $$ SELECT 'stale' $$`);
    expect(await pgferryJson<{ pgq: boolean }>(['install', '--db', db.url])).toMatchObject({ pgq: true });
    expect((await db.pool.query('SELECT pgq.version() AS v')).rows[0]).toEqual({ v: '3.5.2' });
  });
});
