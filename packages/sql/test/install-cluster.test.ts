/**
 * Installing into several databases of a fresh cluster at once: the roles are cluster-wide
 * but the install lock is per database, so the installs race to create them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { install } from '@pgferry/sql';
import { PgServer, TEST_SETTINGS } from '@pgferry/test/pg-server';
import { value } from './helpers.js';

describe('install into a fresh cluster', () => {
  let server: PgServer;
  beforeAll(async () => {
    server = await PgServer.start({ name: 'pgferry-sql-cluster', settings: TEST_SETTINGS });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('succeeds in every database when several installs run at once', async () => {
    const urls = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => server.createDatabase(`d${i}`)));
    const clients = urls.map((url) => new pg.Client({ connectionString: url }));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const results = await Promise.allSettled(clients.map((c) => install(c)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      for (const c of clients) {
        expect(
          await value<string>(c, `SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'pgferry\\_%'`),
        ).toBe('pgferry_admin,pgferry_reader,pgferry_replicator,pgferry_writer');
        expect(await value<boolean>(c, `SELECT has_function_privilege('pgferry_writer', 'pgferry.insert_event(text,text,text,text,text,text,text)', 'EXECUTE')`)).toBe(true);
      }
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});
