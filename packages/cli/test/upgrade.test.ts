/**
 * `pgferry version` and `pgferry upgrade` with the replicator's schema (a component of the
 * SQL layer, pgferry.component_migration): its pending migrations are reported, and applied
 * by upgrade where it is installed, never created where it is not.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { installComponent, readMigrations } from '@pgferry/queue';
import { replicationMigrationIds } from '@pgferry/replicator';
import { pgferry, pgferryJson } from '../../queue/test/cli-helpers.js';

const MIGRATIONS = fileURLToPath(new URL('../../replicator/sql/migrations/', import.meta.url));

interface Version {
  pendingMigrations: number[];
  components: { replicator: { installed: boolean; migrations: { id: number }[]; pendingMigrations: number[] } };
}

describe('pgferry version and upgrade: the replicator schema', () => {
  const older = useTestDatabase();
  const plain = useTestDatabase();

  it('reports the migrations an older replicator schema lacks, and upgrade applies them', async () => {
    const all = replicationMigrationIds();
    const last2 = all.slice(-2);
    // A subscriber set up by the version before the last two replicator migrations.
    await installComponent(older.pool, 'replicator', readMigrations(MIGRATIONS).filter((m) => !last2.includes(m.id)));

    const before = await pgferryJson<Version>(['version', '--db', older.url]);
    expect(before.pendingMigrations).toEqual([]);
    expect(before.components.replicator).toMatchObject({ installed: true, pendingMigrations: last2 });
    const table = await pgferry(['version', '--db', older.url]);
    expect(table.stdout).toContain(`2 pending (${last2.map((id) => String(id).padStart(3, '0')).join(', ')}): pgferry upgrade`);

    const upgraded = await pgferryJson<{ appliedMigrations: number[]; components: Record<string, { appliedMigrations: number[] }> }>(['upgrade', '--db', older.url]);
    expect(upgraded).toMatchObject({ appliedMigrations: [], components: { replicator: { appliedMigrations: last2 } } });
    const after = await pgferryJson<Version>(['version', '--db', older.url]);
    expect(after.components.replicator.pendingMigrations).toEqual([]);
    expect(after.components.replicator.migrations.map((m) => m.id)).toEqual(all);

    const again = await pgferry(['upgrade', '--db', older.url]);
    expect(again.stdout).toMatch(/schema up to date, functions refreshed \(replicator: up to date\)\n$/);
  }, 120_000);

  it('does not create the replicator schema where it is not installed', async () => {
    const r = await pgferryJson<{ components: Record<string, unknown> }>(['upgrade', '--db', plain.url]);
    expect(r.components).toEqual({});
    const inst = await pgferryJson<{ components: Record<string, unknown> }>(['install', '--db', plain.url]);
    expect(inst.components).toEqual({});
    const v = await pgferryJson<Version>(['version', '--db', plain.url]);
    expect(v.components.replicator).toMatchObject({ installed: false, migrations: [], pendingMigrations: [] });
  }, 120_000);
});
