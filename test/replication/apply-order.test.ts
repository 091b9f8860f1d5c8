/**
 * Any history that was valid on the provider applies on the subscriber: histories whose
 * validity depends on the order of changes (unique values swapped or moved between rows,
 * a statement whose rows were checked in a particular order, parents and children across
 * tables, deferrable constraints) apply too, although the common case coalesces changes
 * and applies them in bulk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addTable, getStatus, listTables } from '@pgferry/replicator';
import { startReplication, stopReplication, tableJson, waitFor, type Replication } from './helpers.js';

describe('apply order', () => {
  let env: Replication;

  beforeAll(async () => {
    env = await startReplication('repl-order', {
      prepare: async (e) => {
        const ddl = [
          `CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE)`,
          `CREATE TABLE ranks (id int PRIMARY KEY, n int UNIQUE)`,
          `CREATE TABLE parent (id int PRIMARY KEY)`,
          `CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL)`,
          `CREATE TABLE seats (id int PRIMARY KEY, seat text UNIQUE DEFERRABLE INITIALLY IMMEDIATE)`,
        ];
        for (const db of [e.provider, e.subscriber]) for (const d of ddl) await db.query(d);
        await e.provider.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 5) g`);
        // Rows stored in descending order of n: "n = n + 1" is valid on the provider (it meets
        // them in that order); the subscriber stores them ascending.
        await e.provider.query(`INSERT INTO ranks SELECT g, g FROM generate_series(50, 1, -1) g`);
        await e.provider.query(`INSERT INTO parent VALUES (1), (2)`);
        await e.provider.query(`INSERT INTO child VALUES (10, 1)`);
        await e.provider.query(`INSERT INTO seats VALUES (1, 'A'), (2, 'B')`);
        for (const t of ['parent', 'child', 'users', 'ranks', 'seats']) await addTable(e.provider, e.subscriber, { subscription: 'leaf1', table: t });
      },
    });
    await waitFor('the copies', async () => (await listTables(env.subscriber, 'leaf1')).every((t) => t.state === 'ok'));
    await env.subscriber.query(`CLUSTER ranks USING ranks_pkey`); // ascending on the subscriber
    // Foreign keys once the tables are copied (a copy truncates and fills one table at a time).
    for (const db of [env.provider, env.subscriber]) await db.query(`ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent`);
  });

  afterAll(() => stopReplication(env));

  async function inTransaction(statements: string[]): Promise<void> {
    const c: pg.PoolClient = await env.provider.connect();
    try {
      await c.query('BEGIN');
      for (const s of statements) await c.query(s);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  }

  async function expectConverged(): Promise<void> {
    for (const t of ['users', 'ranks', 'parent', 'child', 'seats']) {
      await waitFor(`${t} identical`, async () => (await tableJson(env.provider, t)) === (await tableJson(env.subscriber, t)), 30_000);
    }
    const st = await getStatus(env.subscriber, 'leaf1');
    expect(st.lastError).toBeNull();
    expect(st.tables.every((t) => t.missingUpdates === 0 && t.missingDeletes === 0)).toBe(true);
  }

  it('swaps a unique value between two rows in one transaction', async () => {
    const ordered = env.worker.snapshot().orderedBatches;
    await inTransaction([
      `UPDATE users SET email = 'tmp' WHERE id = 1`,
      `UPDATE users SET email = 'u1@x' WHERE id = 2`,
      `UPDATE users SET email = 'u2@x' WHERE id = 1`,
    ]);
    await expectConverged();
    const { rows } = await env.subscriber.query(`SELECT id, email FROM users WHERE id IN (1, 2) ORDER BY id`);
    expect(rows).toEqual([{ id: 1, email: 'u2@x' }, { id: 2, email: 'u1@x' }]);
    // Coalesced, the two rows' updates conflict whichever goes first: applied in order.
    expect(env.worker.snapshot().orderedBatches).toBeGreaterThan(ordered);
  });

  it('moves a unique value from one row to another, and a row to a freed key', async () => {
    await inTransaction([
      `UPDATE users SET email = NULL WHERE id = 3`,
      `UPDATE users SET email = 'u3@x' WHERE id = 4`,
      `DELETE FROM users WHERE id = 5`,
      `INSERT INTO users VALUES (6, 'u5@x')`,
    ]);
    await expectConverged();
  });

  it('applies a statement whose rows were only valid in the order the provider met them', async () => {
    await env.provider.query(`UPDATE ranks SET n = n + 1`);
    await expectConverged();
  });

  it('keeps parents before children across tables', async () => {
    await inTransaction([`INSERT INTO parent VALUES (3)`, `INSERT INTO child VALUES (11, 3)`]);
    await inTransaction([`DELETE FROM child WHERE id = 10`, `DELETE FROM parent WHERE id = 1`]);
    await inTransaction([`UPDATE child SET parent_id = 2 WHERE id = 11`, `DELETE FROM parent WHERE id = 3`]);
    await expectConverged();
  });

  it('swaps values of a deferrable constraint in one statement', async () => {
    await inTransaction([`SET CONSTRAINTS ALL DEFERRED`, `UPDATE seats SET seat = CASE seat WHEN 'A' THEN 'B' ELSE 'A' END`]);
    await expectConverged();
  });

  it('still stops on a real conflict, and names it', async () => {
    await env.subscriber.query(`INSERT INTO users VALUES (100, 'taken@x')`);
    await env.provider.query(`INSERT INTO users VALUES (7, 'taken@x')`);
    await waitFor('the conflict to be reported', async () =>
      /key \["7"\] to table public\.users .*duplicate key value violates unique constraint "users_email_key"/.test(
        (await getStatus(env.subscriber, 'leaf1')).lastError ?? '',
      ),
    );
    await env.subscriber.query(`DELETE FROM users WHERE id = 100`);
    await expectConverged();
  });
});
