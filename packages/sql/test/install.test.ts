import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase, createDatabase, dropDatabase, serverUrl } from '@pgferry/test/test-database';
import { install, installedVersion, uninstall, knownMigrations, bundleSql } from '../src/index.js';

describe('install', () => {
  const db = useTestDatabase({ install: false });

  it('installs, and installing again changes nothing', async () => {
    expect(await installedVersion(db.pool)).toBeNull();
    const first = await install(db.pool);
    expect(first.applied).toEqual(knownMigrations());
    expect(first.version).toMatch(/^\d+\.\d+\.\d+$/);
    await db.pool.query(`SELECT pgferry.create_queue('q1')`);
    const again = await install(db.pool);
    expect(again.applied).toEqual([]);
    const { rows } = await db.pool.query(`SELECT queue_name FROM pgferry.get_queue_info()`);
    expect(rows.map((r: { queue_name: string }) => r.queue_name)).toEqual(['q1']);
  });

  it('is safe from several processes at once', async () => {
    const name = await createDatabase('inst');
    const clients = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const c = new pg.Client({ connectionString: serverUrl(name) });
        await c.connect();
        return c;
      }),
    );
    try {
      const results = await Promise.all(clients.map((c) => install(c)));
      expect(results.every((r) => r.version === results[0]!.version)).toBe(true);
      const { rows } = await clients[0]!.query<{ id: number }>('SELECT id FROM pgferry.migration ORDER BY id');
      expect(rows.map((r) => r.id)).toEqual(knownMigrations());
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await dropDatabase(name);
    }
  });

  it('uninstalls', async () => {
    await uninstall(db.pool);
    expect(await installedVersion(db.pool)).toBeNull();
    await install(db.pool);
    expect(await installedVersion(db.pool)).not.toBeNull();
  });

  it('bundles into one script with a single transaction', () => {
    const sql = bundleSql();
    expect(sql.match(/^BEGIN;$/gm)).toHaveLength(1);
    expect(sql.match(/^COMMIT;$/gm)).toHaveLength(1);
  });
});
