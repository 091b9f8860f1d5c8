/**
 * A fresh database per test file on the run's shared server, with pgferry optionally
 * installed. Call `useTestDatabase()` at the top of a test file.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import pg from 'pg';
import { install } from '@pgferry/sql';

export interface TestDatabase {
  /** Connection string (superuser). */
  url: string;
  /** Database name. */
  name: string;
  /** Shared pool for the test file (closed after the file). */
  pool: pg.Pool;
  /** Connection string for another role on the same database. */
  urlAs(user: string): string;
  /** A new client the caller must end. */
  connect(): Promise<pg.Client>;
}

export function serverUrl(database: string, user?: string): string {
  const s = inject('pgServer');
  return `postgres://${encodeURIComponent(user ?? s.user)}@${s.host}:${s.port}/${encodeURIComponent(database)}`;
}

export async function createDatabase(prefix = 't', owner?: string): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl('postgres') });
  await admin.connect();
  try {
    const ownerSql = owner ? ` OWNER ${admin.escapeIdentifier(owner)}` : '';
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}${ownerSql}`);
  } finally {
    await admin.end();
  }
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl('postgres') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export function useTestDatabase(options: { install?: boolean } = {}): TestDatabase {
  const db = {} as TestDatabase;
  beforeAll(async () => {
    const name = await createDatabase();
    const url = serverUrl(name);
    const pool = new pg.Pool({ connectionString: url, max: 20 });
    pool.on('error', () => undefined);
    Object.assign(db, {
      url,
      name,
      pool,
      urlAs: (user: string) => serverUrl(name, user),
      connect: async () => {
        const c = new pg.Client({ connectionString: url });
        c.on('error', () => undefined);
        await c.connect();
        return c;
      },
    } satisfies TestDatabase);
    if (options.install !== false) await install(pool);
  });
  afterAll(async () => {
    await db.pool?.end();
    if (db.name) await dropDatabase(db.name);
  });
  return db;
}
