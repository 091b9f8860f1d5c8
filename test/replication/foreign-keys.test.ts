/**
 * Foreign keys between replicated tables on the subscriber: a parent / child / grandchild
 * schema with its foreign keys on both sides before add-table, copied while the provider is
 * written to and the worker (a child process) is SIGKILLed now and then. The copies take
 * the keys off and put them back once both tables are applied by the main stream; at the
 * end every key is back, validated, the tables are identical, and nothing is left to put
 * back. A key the data does not satisfy stays off and is reported, then goes back once the
 * data is fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addTable, createLeafNode, createRootNode, getStatus, listTables, resyncTable } from '@pgferry/replicator';
import { rng, startTwoServers, stopTwoServers, tableJson, waitFor, type TwoServers } from './helpers.js';
import { WorkerProcess } from './worker-process.js';

const SEED = Number(process.env.PGFERRY_FAULT_SEED ?? Date.now() % 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SCHEMA = [
  `CREATE TABLE parent (id int PRIMARY KEY, v text)`,
  `CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent ON DELETE CASCADE, v text)`,
  `CREATE TABLE grandchild (id int PRIMARY KEY, child_id int NOT NULL REFERENCES child ON DELETE CASCADE, v text)`,
];
const TABLES = ['parent', 'child', 'grandchild'];

const fkeys = async (db: pg.Pool) =>
  (await db.query<{ c: string }>(`SELECT conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid) AS c FROM pg_constraint WHERE contype = 'f' ORDER BY 1`)).rows.map(
    (r) => r.c,
  );

/** Random writes that keep the provider's keys valid; rollbacks among them. */
function writer(db: pg.Pool, random: () => number) {
  let stopping = false;
  let next = 100_000;
  const stats = { commits: 0, rollbacks: 0, errors: 0 };
  const pick = async (table: string) =>
    (await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY random() LIMIT 1`)).rows[0]?.id;
  const loop = (async () => {
    while (!stopping) {
      const c = await db.connect();
      try {
        await c.query('BEGIN');
        const op = Math.floor(random() * 6);
        if (op === 0) await c.query(`INSERT INTO parent VALUES ($1, 'p')`, [++next]);
        else if (op === 1) {
          const p = await pick('parent');
          if (p !== undefined) await c.query(`INSERT INTO child VALUES ($1, $2, 'c')`, [++next, p]);
        } else if (op === 2) {
          const ch = await pick('child');
          if (ch !== undefined) await c.query(`INSERT INTO grandchild VALUES ($1, $2, 'g')`, [++next, ch]);
        } else if (op === 3) {
          const p = await pick('parent');
          if (p !== undefined) await c.query(`DELETE FROM parent WHERE id = $1`, [p]); // cascades
        } else if (op === 4) {
          const [ch, p] = [await pick('child'), await pick('parent')];
          if (ch !== undefined && p !== undefined) await c.query(`UPDATE child SET parent_id = $2, v = v || '+' WHERE id = $1`, [ch, p]);
        } else {
          // A new parent and its children in one transaction.
          const p = ++next;
          await c.query(`INSERT INTO parent VALUES ($1, 'family')`, [p]);
          await c.query(`INSERT INTO child SELECT g, $1, 'sibling' FROM generate_series($2::int, $2::int + 2) g`, [p, ++next]);
          next += 3;
        }
        if (random() < 0.15) {
          await c.query('ROLLBACK');
          stats.rollbacks++;
        } else {
          await c.query('COMMIT');
          stats.commits++;
        }
      } catch {
        stats.errors++;
        await c.query('ROLLBACK').catch(() => undefined);
      } finally {
        c.release();
      }
      await sleep(Math.floor(random() * 5));
    }
  })();
  return {
    stats,
    stop: async () => {
      stopping = true;
      await loop;
    },
  };
}

describe(`foreign keys between replicated tables (seed ${SEED})`, () => {
  let env: TwoServers;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    env = await startTwoServers('repl-fkeys');
    for (const db of [env.provider, env.subscriber]) for (const s of SCHEMA) await db.query(s);
    await env.provider.query(`INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 2000) g`);
    await env.provider.query(`INSERT INTO child SELECT g, 1 + g % 2000, 'c' || g FROM generate_series(1, 6000) g`);
    await env.provider.query(`INSERT INTO grandchild SELECT g, 1 + g % 6000, 'g' || g FROM generate_series(1, 12000) g`);
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
  });
  afterAll(async () => {
    await worker?.close();
    await stopTwoServers(env);
  });

  it('copies related tables with their keys present, under writes and worker kills; every key is back at the end', { timeout: 240_000 }, async () => {
    const random = rng(SEED);
    const expected = await fkeys(env.provider);
    expect(await fkeys(env.subscriber)).toEqual(expected);
    worker = new WorkerProcess({
      subscriptions: [{ subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500, parallelCopies: 2 }],
      tickIntervalMs: 50,
    });
    await worker.start();
    const w = writer(env.provider, random);
    try {
      // Children first: their copies meet parents that are not copied yet.
      for (const t of [...TABLES].reverse()) await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: t });
      for (let k = 0; k < 4; k++) {
        await sleep(1500 + Math.floor(random() * 2000));
        await worker.kill();
        await worker.start();
      }
      await waitFor('all tables ok', async () => (await listTables(env.subscriber, 'leaf1')).every((t) => t.state === 'ok'), 120_000);
    } finally {
      await w.stop();
    }
    for (const t of TABLES) await waitFor(`${t} identical`, async () => (await tableJson(env.provider, t)) === (await tableJson(env.subscriber, t)), 60_000, 250);
    await waitFor('every key back', async () => JSON.stringify(await fkeys(env.subscriber)) === JSON.stringify(expected), 30_000);
    expect((await env.subscriber.query(`SELECT * FROM pgferry.repl_dropped_fkey`)).rows).toEqual([]);
    // Validated: no constraint was put back NOT VALID.
    expect((await env.subscriber.query(`SELECT conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated`)).rows).toEqual([]);
    expect(w.stats.commits).toBeGreaterThan(20);
    expect(worker.kills).toBe(4);
  });

  it('keeps a key off while the data does not satisfy it, says so, and puts it back once fixed', async () => {
    // Resync the parent: its copy takes the keys to it off; an orphan row written meanwhile
    // (an operator's slip) keeps the key from coming back.
    await resyncTable(env.subscriber, { subscription: 'leaf1', table: 'parent' });
    await waitFor('the key off', async () => !(await fkeys(env.subscriber)).some((k) => k.includes('child_parent_id_fkey')), 60_000, 20);
    await env.subscriber.query(`INSERT INTO child VALUES (-1, -1, 'orphan')`);
    await waitFor('the key reported', async () => /cannot put foreign key child_parent_id_fkey of public\.child back/.test((await getStatus(env.subscriber, 'leaf1')).lastError ?? ''), 60_000);
    expect(await fkeys(env.subscriber)).not.toContain(expect.stringContaining('child_parent_id_fkey'));
    await env.subscriber.query(`DELETE FROM child WHERE id = -1`);
    await waitFor('the key back', async () => (await fkeys(env.subscriber)).some((k) => k.includes('child_parent_id_fkey')), 60_000);
    await waitFor('no error', async () => (await getStatus(env.subscriber, 'leaf1')).lastError === null, 30_000);
  });

  it('applies a batch where a child moves away from a parent deleted after it: the subscriber\'s ON DELETE CASCADE takes nothing the provider kept', async () => {
    const { rows } = await env.provider.query<{ id: number; parent_id: number }>(`SELECT id, parent_id FROM child ORDER BY id LIMIT 1`);
    const [c] = rows;
    // One tick range holds the three transactions: the queue's tick lock is held meanwhile.
    const lock = await env.provider.connect();
    try {
      await lock.query('BEGIN');
      await lock.query(`SELECT pgferry.tick_lock('repl')`);
      await env.provider.query(`INSERT INTO parent VALUES (900001, 'first in the batch')`);
      await env.provider.query(`UPDATE child SET parent_id = 900001 WHERE id = $1`, [c!.id]);
      await env.provider.query(`DELETE FROM parent WHERE id = $1`, [c!.parent_id]); // cascades its other children
      await lock.query('COMMIT');
    } finally {
      lock.release();
    }
    for (const t of TABLES) await waitFor(`${t} identical`, async () => (await tableJson(env.provider, t)) === (await tableJson(env.subscriber, t)), 30_000, 100);
    expect((await env.subscriber.query(`SELECT parent_id FROM child WHERE id = $1`, [c!.id])).rows).toEqual([{ parent_id: 900001 }]);
  });
});
