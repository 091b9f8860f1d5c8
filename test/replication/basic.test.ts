/**
 * Replication between two real PostgreSQL servers: initial copy while the provider keeps
 * writing, catch-up and hand-off, bulk apply of every kind of change, apply errors that
 * stop progress and are reported, missing rows counted, and bad input refused cleanly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ReplicationSetupError,
  SubscriptionWorker,
  addTable,
  getStatus,
  listTables,
  removeTable,
  resyncTable,
} from '@pgferry/replicator';
import { startReplication, stopReplication, tableJson, waitFor, type Replication } from './helpers.js';

describe('replication', () => {
  let env: Replication;

  beforeAll(async () => {
    // Many flushes per batch: each one overlaps the reading of the next events.
    env = await startReplication('repl-basic', { worker: { maxKeysPerFlush: 50 } });
  });

  afterAll(() => stopReplication(env));

  const allOk = async () => (await listTables(env.subscriber, 'leaf1')).every((t) => t.state === 'ok');

  it('copies tables while the provider writes, then replicates every change', async () => {
    await env.provider.query(`CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12,2), tags text[],
                                                  data jsonb, created timestamptz DEFAULT now(), blob bytea)`);
    await env.provider.query(`INSERT INTO items (id, name, price, tags, data, blob)
      SELECT g, 'item ' || g, g * 1.25, ARRAY['a', g::text], jsonb_build_object('g', g), decode(md5(g::text), 'hex')
        FROM generate_series(1, 20000) g`);
    await env.provider.query(`CREATE TABLE orders (region text, no int, amount float8, note text, PRIMARY KEY (region, no))`);
    await env.provider.query(`INSERT INTO orders SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, g / 3.0, NULL FROM generate_series(1, 3000) g`);

    // Writes go on during the copy.
    let stop = false;
    let n = 100_000;
    const writer = (async () => {
      while (!stop) {
        const c = await env.provider.connect();
        try {
          await c.query('BEGIN');
          await c.query(`INSERT INTO items (id, name) VALUES ($1, 'live')`, [++n]);
          await c.query(`UPDATE items SET price = price + 1 WHERE id = $1`, [1 + (n % 20000)]);
          await c.query(`DELETE FROM items WHERE id = $1`, [1 + ((n * 7) % 20000)]);
          await c.query(`UPDATE orders SET note = $1 WHERE no = $2`, [`n${n}`, 1 + (n % 3000)]);
          await c.query(n % 5 === 0 ? 'ROLLBACK' : 'COMMIT');
        } finally {
          c.release();
        }
      }
    })();

    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'items', create: true });
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'orders', create: true, dest: 'orders_copy', mode: 'row' });
    await waitFor('tables to reach ok', allOk);
    stop = true;
    await writer;

    // A bulk statement, a key change, a truncate and a refill: all replicated.
    await env.provider.query(`INSERT INTO items (id, name) SELECT g, 'bulk' FROM generate_series(200001, 230000) g`);
    await env.provider.query(`UPDATE items SET id = id + 1000000 WHERE id BETWEEN 200001 AND 200100`);
    await env.provider.query(`UPDATE items SET data = NULL, tags = '{}' WHERE id % 3 = 0`);
    await env.provider.query(`TRUNCATE orders`);
    await env.provider.query(`INSERT INTO orders VALUES ('eu', 1, 0.1, 'after truncate'), ('us', 2, 1e300, NULL)`);

    const same = async () =>
      (await tableJson(env.provider, 'items')) === (await tableJson(env.subscriber, 'items')) &&
      (await tableJson(env.provider, 'orders', 'region, no')) === (await tableJson(env.subscriber, 'orders_copy', 'region, no'));
    await waitFor('subscriber to match the provider', same);
    const st = await getStatus(env.subscriber, 'leaf1', env.provider);
    expect(st.lastError).toBeNull();
    // The subscriber captures items into its own queue too: what the replicator applied is
    // not captured again (pgferry.replica), a local write is.
    await env.subscriber.query(`SELECT pgferry.create_queue('local')`);
    await env.subscriber.query(`SELECT pgferry.capture_add_table('local', 'items')`);
    await env.provider.query(`UPDATE items SET name = 'replicated' WHERE id BETWEEN 1 AND 50`);
    await waitFor('the update to arrive', async () => (await tableJson(env.provider, 'items')) === (await tableJson(env.subscriber, 'items')));
    const local = async () =>
      (await env.subscriber.query(`SELECT count(*)::int AS n FROM pgferry.event e JOIN pgferry.queue q ON q.queue_id = e.ev_queue WHERE q.queue_name = 'local'`)).rows[0].n;
    expect(await local()).toBe(0);
    await env.subscriber.query(`UPDATE items SET name = 'local write' WHERE id = 2`);
    expect(await local()).toBe(1);
    await env.subscriber.query(`SELECT pgferry.capture_remove_table('local', 'items')`);
    await env.subscriber.query(`UPDATE items SET name = 'replicated' WHERE id = 2`);
    expect(st.tables.map((t) => [t.source, t.dest, t.state, t.missingUpdates, t.missingDeletes])).toEqual([
      ['public.items', 'public.items', 'ok', 0, 0],
      ['public.orders', 'public.orders_copy', 'ok', 0, 0],
    ]);
    expect(st.tables[0]!.copy!.rows).toBeGreaterThanOrEqual(16000);
  });

  it('stops on a change it cannot apply, reports it, and goes on once it is fixed', async () => {
    await env.subscriber.query(`INSERT INTO items (id, name) VALUES (900001, 'subscriber only')`);
    // One transaction of 500 rows: the conflict is in the first flush, while later ones are read.
    await env.provider.query(
      `INSERT INTO items (id, name) SELECT g, CASE WHEN g = 900001 THEN 'conflict' ELSE 'fine' END FROM generate_series(900000, 900499) g`,
    );
    await waitFor('the error to be reported', async () => {
      const st = await getStatus(env.subscriber, 'leaf1');
      return st.lastError !== null;
    });
    const st = await getStatus(env.subscriber, 'leaf1');
    expect(st.lastError).toMatch(/public\.items/);
    expect(st.lastError).toMatch(/key \["900001"\]/);
    expect(st.lastError).toMatch(/event \d+/);
    expect(st.lastError).toMatch(/duplicate key value/);
    // Nothing of the failing batch was applied.
    expect((await env.subscriber.query('SELECT count(*)::int AS n FROM items WHERE id BETWEEN 900000 AND 900499 AND id <> 900001')).rows[0].n).toBe(0);

    await env.subscriber.query(`DELETE FROM items WHERE id = 900001`);
    await waitFor('the subscriber to match again', async () => (await tableJson(env.provider, 'items')) === (await tableJson(env.subscriber, 'items')));
    await waitFor('the error to clear', async () => (await getStatus(env.subscriber, 'leaf1')).lastError === null);

    // A missing table and a type mismatch: the same, with the SQL error.
    await env.subscriber.query(`ALTER TABLE items RENAME TO items_away`);
    await env.provider.query(`UPDATE items SET name = 'while away' WHERE id = 20`);
    await waitFor('the missing table to be reported', async () =>
      /cannot apply key \["20"\] to table public\.items \(event \d+\): relation "public\.items" does not exist/.test(
        (await getStatus(env.subscriber, 'leaf1')).lastError ?? '',
      ),
    );
    await env.subscriber.query(`ALTER TABLE items_away RENAME TO items`);
    await env.subscriber.query(`ALTER TABLE items ALTER COLUMN name TYPE int USING 0`);
    await waitFor('the type mismatch to be reported', async () =>
      /cannot apply key \["20"\] to table public\.items \(event \d+\): invalid input syntax for type integer/.test(
        (await getStatus(env.subscriber, 'leaf1')).lastError ?? '',
      ),
    );
    await env.subscriber.query(`ALTER TABLE items ALTER COLUMN name TYPE text`);
    await waitFor('the error to clear again', async () => (await getStatus(env.subscriber, 'leaf1')).lastError === null);
    // The names the type change erased come back through a resync.
    await resyncTable(env.subscriber, { subscription: 'leaf1', table: 'items' });
    await waitFor('items identical after the resync', async () =>
      (await allOk()) && (await tableJson(env.provider, 'items')) === (await tableJson(env.subscriber, 'items')),
    );
  });

  it('counts updates and deletes that find no row', async () => {
    await env.subscriber.query(`DELETE FROM items WHERE id IN (10, 11)`);
    // In one transaction with changes that do find their rows: those are applied all the same.
    const c = await env.provider.connect();
    try {
      await c.query('BEGIN');
      await c.query(`UPDATE items SET name = 'gone on subscriber' WHERE id IN (10, 12)`);
      await c.query(`DELETE FROM items WHERE id IN (11, 13)`);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    await waitFor('missing rows to be counted', async () => {
      const t = (await getStatus(env.subscriber, 'leaf1')).tables.find((x) => x.source === 'public.items')!;
      return t.missingUpdates === 1 && t.missingDeletes === 1;
    });
    const { rows } = await env.subscriber.query('SELECT id::int, name FROM items WHERE id BETWEEN 10 AND 13 ORDER BY id');
    expect(rows).toEqual([{ id: 12, name: 'gone on subscriber' }]);

    // The same in a chunk big enough to be staged (see handlers/row.ts): hundreds of updates
    // and deletes, three of each finding no row.
    const ids = async (from: number, to: number) =>
      (await env.provider.query<{ id: string }>(`SELECT id::text FROM items WHERE id BETWEEN $1 AND $2 ORDER BY id`, [from, to])).rows.map((r) => r.id);
    const [updating, deleting] = [await ids(3001, 3400), await ids(4001, 4300)];
    expect(Math.min(updating.length, deleting.length)).toBeGreaterThan(250);
    await env.subscriber.query(`DELETE FROM items WHERE id = ANY ($1::bigint[])`, [[...updating.slice(0, 3), ...deleting.slice(0, 3)]]);
    await env.provider.query(`UPDATE items SET name = 'staged' WHERE id BETWEEN 3001 AND 3400`);
    await env.provider.query(`DELETE FROM items WHERE id BETWEEN 4001 AND 4300`);
    await waitFor('the staged misses to be counted', async () => {
      const t = (await getStatus(env.subscriber, 'leaf1')).tables.find((x) => x.source === 'public.items')!;
      return t.missingUpdates === 4 && t.missingDeletes === 4;
    });
    const staged = await env.subscriber.query(
      `SELECT count(*) FILTER (WHERE name = 'staged')::int AS updated, count(*) FILTER (WHERE id BETWEEN 4001 AND 4300)::int AS left FROM items`,
    );
    expect(staged.rows[0]).toEqual({ updated: updating.length - 3, left: 0 });
  });

  it('applies a batch of several flushes in one subtransaction (no savepoint per statement unless one fails)', async () => {
    // 10,000 rows flushed after every fetch of 2,000 events: five statements. A savepoint each
    // took a subtransaction id each, and past 64 in one transaction every snapshot on the
    // subscriber overflows its cache.
    const mine = 'id BETWEEN 7000000 AND 7009999';
    await env.provider.query(`INSERT INTO items (id, name) SELECT g, 'many' FROM generate_series(7000000, 7009999) g`);
    await waitFor('the rows replicated', async () => (await env.subscriber.query(`SELECT count(*)::int AS n FROM items WHERE ${mine}`)).rows[0].n === 10_000);
    const { rows } = await env.subscriber.query(`SELECT count(DISTINCT xmin::text)::int AS writers FROM items WHERE ${mine}`);
    expect(rows[0].writers).toBe(1);
  });

  it('resyncs a table and removes one', async () => {
    await env.subscriber.query(`DELETE FROM orders_copy`);
    await resyncTable(env.subscriber, { subscription: 'leaf1', table: 'public.orders' });
    await waitFor('resync', async () =>
      (await allOk()) && (await tableJson(env.provider, 'orders', 'region, no')) === (await tableJson(env.subscriber, 'orders_copy', 'region, no')),
    );
    await removeTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'orders', dropCapture: true });
    expect((await listTables(env.subscriber, 'leaf1')).map((t) => t.source)).toEqual(['public.items']);
    const trg = await env.provider.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal`);
    expect(trg.rows[0].n).toBe(0);
  });

  it('lets one worker at a time serve a subscription', async () => {
    const logs: string[] = [];
    const second = new SubscriptionWorker({
      subscription: 'leaf1',
      provider: env.providerUrl,
      subscriber: env.subscriberUrl,
      log: (_level, m) => logs.push(m),
    }).start();
    try {
      await waitFor('the second worker to stand by', async () => logs.some((m) => /another worker serves this subscription/.test(m)));
      expect(second.snapshot().active).toBe(false);
      expect(env.worker.snapshot().active).toBe(true);
    } finally {
      await second.stop();
    }
  });

  it('stops once, however often stop() is called, together or after', async () => {
    const w = new SubscriptionWorker({ subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl, log: () => undefined }).start();
    await Promise.all([w.stop(), w.stop()]);
    await w.stop();
  });

  it('refuses bad input with clear errors and leaves nothing half set up', async () => {
    const before = async () => ({
      sub: (await env.subscriber.query('SELECT st_source FROM pgferry.subscriber_table ORDER BY 1')).rows,
      cap: (await env.provider.query('SELECT table_name FROM pgferry.capture_tables() ORDER BY 1')).rows,
    });
    const state = await before();
    const add = (o: Partial<Parameters<typeof addTable>[2]>) =>
      addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'x', create: true, ...o });

    await expect(add({ table: 'no_such_table' })).rejects.toThrow(/table "no_such_table" does not exist on the provider/);
    await env.provider.query('CREATE TABLE nokey (a int NOT NULL, b text)');
    await expect(add({ table: 'nokey' })).rejects.toThrow(ReplicationSetupError);
    await expect(add({ table: 'nokey' })).rejects.toThrow(/has no primary key/);
    await env.provider.query('CREATE TABLE shaped (id int PRIMARY KEY, a text, b int)');
    await env.subscriber.query('CREATE TABLE shaped (id int PRIMARY KEY, a int, c text NOT NULL)');
    await expect(add({ table: 'shaped' })).rejects.toThrow(
      /subscriber table public.shaped does not match public.shaped: column "a" is integer on the subscriber but text on the provider; column "b" is missing; column "c" is NOT NULL/,
    );
    await expect(add({ table: 'shaped', create: false, dest: 'absent' })).rejects.toThrow(/"absent" does not exist on the subscriber/);
    await expect(add({ table: 'items' })).rejects.toThrow(/in subscription "leaf1" already/);
    await expect(add({ subscription: 'nope', table: 'items' })).rejects.toThrow(/no leaf or branch node "nope"/);
    expect(await before()).toEqual(state);

    // A table without a key is fine with an explicit one.
    await env.provider.query(`INSERT INTO nokey VALUES (1, 'one'), (2, 'two')`);
    await add({ table: 'nokey', keyColumns: ['a'] });
    await env.provider.query(`UPDATE nokey SET b = 'TWO' WHERE a = 2`);
    await waitFor('nokey replicated', async () =>
      (await allOk()) && (await tableJson(env.provider, 'nokey', 'a')) === (await tableJson(env.subscriber, 'nokey', 'a')),
    );
  });
});
