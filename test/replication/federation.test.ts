/**
 * Federation (merge): three provider servers, each a root with its own queue, replicated
 * into one table of a fourth server, each row marked with its source (the leaf's name).
 * Concurrent random workloads on every source (one source's worker a process that is
 * SIGKILLed), a source added and sources removed while the others run, and a key that
 * collides between two sources: the second source's stream stops with an error naming both,
 * the first source's row stays, and the others go on.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ticker } from '@pgferry/queue';
import {
  ReplicationSetupError,
  SubscriptionWorker,
  addTable,
  compareTable,
  createLeafNode,
  createRootNode,
  dropLeafNode,
  getStatus,
  listTables,
  removeTable,
  resyncTable,
} from '@pgferry/replicator';
import { PgServer } from '../harness/pg-server.js';
import { rng, tableJson, waitFor } from './helpers.js';
import { WorkerProcess } from './worker-process.js';
import { pgferry } from './cli.js';

const COLUMNS = 'id, customer, amount, note';

interface Source {
  name: string;
  url: string;
  db: pg.Pool;
  ticker?: Ticker;
  worker?: SubscriptionWorker;
}

function pool(url: string): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max: 6, application_name: 'pgferry-test' });
  p.on('error', () => undefined);
  return p;
}

/** Random transactions on `s`'s own keys (id % 10 = its number): inserts, updates, deletes, rollbacks. */
async function workload(s: Source, no: number, seed: number, until: (commits: number) => boolean, maxCommits = Infinity): Promise<number> {
  const rand = rng(seed);
  const key = () => (1 + Math.floor(rand() * 3000)) * 10 + no;
  let commits = 0;
  while (!until(commits) && commits < maxCommits) {
    const c = await s.db.connect();
    try {
      await c.query('BEGIN');
      for (let i = 0, n = 1 + Math.floor(rand() * 4); i < n; i++) {
        const r = rand();
        if (r < 0.45) {
          await c.query(`INSERT INTO orders VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET amount = excluded.amount`, [
            key(), Math.floor(rand() * 100), (rand() * 1000).toFixed(2), rand() < 0.2 ? null : `n${seed}-${i}`,
          ]);
        } else if (r < 0.75) {
          await c.query(`UPDATE orders SET amount = amount + 1, note = $2 WHERE id = $1`, [key(), `u${commits}`]);
        } else if (r < 0.95) {
          await c.query(`DELETE FROM orders WHERE id = $1`, [key()]);
        } else {
          await c.query(`UPDATE orders SET customer = customer + 1 WHERE customer = $1`, [Math.floor(rand() * 100)]);
        }
      }
      if (rand() < 0.15) await c.query('ROLLBACK');
      else {
        await c.query('COMMIT');
        commits++;
      }
    } finally {
      c.release();
    }
  }
  return commits;
}

describe('federation: several providers merged into one table', () => {
  const servers: PgServer[] = [];
  const sources: Source[] = [];
  let target: pg.Pool;
  let targetUrl: string;
  let shard3Process: WorkerProcess;

  const setupSource = async (s: Source, no: number) => {
    await createRootNode(s.db, { node: `root${no}`, queue: 'repl' });
    await s.db.query(`CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note text)`);
    await s.db.query(
      `INSERT INTO orders SELECT g * 10 + $1, g % 100, g * 1.5, 'seed' FROM generate_series(1, 2000) g`,
      [no],
    );
    await createLeafNode(s.db, target, { node: s.name });
  };
  const startWorker = (s: Source) => {
    s.ticker = new Ticker({ connectionString: s.url }, { tickIntervalMs: 20, maintIntervalMs: 500 }).start();
    s.worker = new SubscriptionWorker({
      subscription: s.name, provider: s.url, subscriber: targetUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500,
    }).start();
  };
  /** The target's rows of source `s`, without the merge column, as the source has them. */
  const merged = (s: Source) => tableJson(target, `orders WHERE source = '${s.name}'`, 'id', COLUMNS);
  const same = async (s: Source) => (await tableJson(s.db, 'orders', 'id', COLUMNS)) === (await merged(s));
  const allOk = async (s: Source) => (await listTables(target, s.name)).every((t) => t.state === 'ok');

  beforeAll(async () => {
    servers.push(...(await Promise.all([1, 2, 3, 4].map((i) => PgServer.start({ name: i === 4 ? 'fed-target' : `fed-shard${i}` })))));
    targetUrl = await servers[3]!.createDatabase('reporting');
    target = pool(targetUrl);
    for (const i of [1, 2, 3]) {
      const url = await servers[i - 1]!.createDatabase(`shard${i}`);
      sources.push({ name: `shard${i}`, url, db: pool(url) });
    }
    await Promise.all(sources.map((s, i) => setupSource(s, i + 1)));
  });

  afterAll(async () => {
    await shard3Process?.close().catch(() => undefined);
    for (const s of sources) {
      await s.worker?.stop().catch(() => undefined);
      await s.ticker?.stop().catch(() => undefined);
    }
    await Promise.allSettled([target?.end(), ...sources.map((s) => s.db.end())]);
    await Promise.allSettled(servers.map((s) => s.destroy()));
  });

  it('merges three sources under concurrent workloads, one worker SIGKILLed, into the union of the sources', async () => {
    const [s1, s2, s3] = sources as [Source, Source, Source];
    // The first creates the table (with its merge column); the others check and share it.
    const t1 = await addTable(s1.db, target, { subscription: 'shard1', table: 'orders', create: true, mergeColumn: 'source' });
    expect(t1.mergeColumn).toBe('source');
    // Mixing a merged and a plain subscription on one table is refused, as another merge column.
    const s2NoMerge = addTable(s2.db, target, { subscription: 'shard2', table: 'orders' });
    await expect(s2NoMerge).rejects.toThrow(ReplicationSetupError);
    await expect(s2NoMerge).rejects.toThrow(/written by subscription "shard1" already \(from public\.orders\) with merge column "source".*merged table is written by merging subscriptions only/);
    await target.query(`ALTER TABLE orders ADD COLUMN origin text`);
    await expect(addTable(s2.db, target, { subscription: 'shard2', table: 'orders', mergeColumn: 'origin' })).rejects.toThrow(
      /merged by subscription "shard1" with merge column "source", not "origin"/,
    );
    await target.query(`ALTER TABLE orders DROP COLUMN origin`);
    await expect(addTable(s2.db, target, { subscription: 'shard2', table: 'orders', mergeColumn: 'note' })).rejects.toThrow(
      /merge column "note" is a replicated column of public\.orders/,
    );
    await target.query(`CREATE TABLE orders_bare (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note text)`);
    await expect(addTable(s2.db, target, { subscription: 'shard2', table: 'orders', dest: 'orders_bare', mergeColumn: 'source' })).rejects.toThrow(
      /merge column "source" is missing \(add it: ALTER TABLE public\.orders_bare ADD COLUMN "source" text NOT NULL\)/,
    );
    await target.query(`ALTER TABLE orders_bare ADD COLUMN source int`);
    await expect(addTable(s2.db, target, { subscription: 'shard2', table: 'orders', dest: 'orders_bare', mergeColumn: 'source' })).rejects.toThrow(
      /merge column "source" is integer, not text/,
    );
    await expect(
      addTable(s2.db, target, { subscription: 'shard2', table: 'orders', dest: 'orders_a', create: true, mergeColumn: 'source', handler: 'aggregate', handlerArgs: { summary: 'orders_sum', group: 'customer' } }),
    ).rejects.toThrow(/a merge column needs the row or partition handler, not "aggregate"/);
    await addTable(s2.db, target, { subscription: 'shard2', table: 'orders', mergeColumn: 'source' });
    // The command line's add-table does the same.
    const added = await pgferry(['replicate', 'add-table', '--provider', s3.url, '--subscriber', targetUrl, '--node', 'shard3', 'orders', '--merge-column', 'source']);
    expect(added.stderr).toBe('');
    expect(added.stdout).toMatch(/added public\.orders -> public\.orders \(in-copy, merged: source = 'shard3'\)/);
    expect(added.code).toBe(0);

    startWorker(s1);
    startWorker(s2);
    shard3Process = new WorkerProcess({
      subscriptions: [{ subscription: 'shard3', provider: s3.url, subscriber: targetUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000 }],
      tickIntervalMs: 50,
    });
    await shard3Process.start();

    // Each source writes on until the copies are done and it committed 300 transactions.
    let copied = false;
    const writers = sources.map((s, i) => workload(s, i + 1, 100 + i, (n) => copied && n >= 300));
    // Kill shard3's worker once it is applying (its table handed over), then let the next go on.
    await waitFor('shard3 to be copied', () => allOk(s3), 120_000);
    await waitFor('shard3 to apply batches', async () => (await getStatus(target, 'shard3')).appliedTick !== null, 60_000);
    await shard3Process.kill();
    await shard3Process.start();
    await waitFor('shard1 and shard2 to be copied', async () => (await allOk(s1)) && (await allOk(s2)), 120_000);
    copied = true;
    await Promise.all(writers);

    for (const s of sources) await waitFor(`${s.name}'s rows on the target to equal its source`, () => same(s), 120_000);
    // Nothing else is in the table: the union of the sources, each row marked with its source.
    const total = (await Promise.all(sources.map(async (s) => (await s.db.query('SELECT count(*)::int AS n FROM orders')).rows[0].n as number)))
      .reduce((a, b) => a + b, 0);
    const byOrigin = await target.query<{ source: string; n: number }>(`SELECT source, count(*)::int AS n FROM orders GROUP BY 1 ORDER BY 1`);
    expect(byOrigin.rows.map((r) => r.source)).toEqual(['shard1', 'shard2', 'shard3']);
    expect(byOrigin.rows.reduce((a, r) => a + r.n, 0)).toBe(total);
    expect((await target.query(`SELECT count(*)::int AS n FROM orders WHERE id % 10 <> substr(source, 6)::int`)).rows[0].n).toBe(0);
    for (const s of sources) expect((await getStatus(target, s.name)).lastError).toBeNull();
    expect(shard3Process.kills).toBe(1);

    // compare reads one source's rows only; a row of that source changed on the target is
    // found, repair is refused (resync repairs a source).
    await target.query(`UPDATE orders SET note = 'changed by hand' WHERE id = (SELECT min(id) FROM orders WHERE source = 'shard2')`);
    const cmp = await compareTable(s2.db, target, { subscription: 'shard2', table: 'orders' });
    expect({ equal: cmp.equal, missing: cmp.missing, extra: cmp.extra, changed: cmp.changed.length }).toEqual({ equal: false, missing: [], extra: [], changed: 1 });
    expect(cmp.subscriberRows).toBe(byOrigin.rows.find((r) => r.source === 'shard2')!.n);
    await expect(compareTable(s2.db, target, { subscription: 'shard2', table: 'orders', repair: true })).rejects.toThrow(/merged from several sources: compare it without repair/);
    const fix = await s2.db.query(`SELECT note FROM orders WHERE id = (SELECT min(id) FROM orders)`); // put back
    await target.query(`UPDATE orders SET note = $1 WHERE id = (SELECT min(id) FROM orders WHERE source = 'shard2')`, [fix.rows[0].note]);
    expect((await compareTable(s2.db, target, { subscription: 'shard2', table: 'orders' })).equal).toBe(true);
  }, 600_000);

  it('adds a fourth source and removes two while the others run, without touching their rows', async () => {
    const [s1, s2, s3] = sources as [Source, Source, Source];
    // A fourth provider: another database (its own root and queue) on shard1's server.
    const url4 = await servers[0]!.createDatabase('shard4');
    const s4: Source = { name: 'shard4', url: url4, db: pool(url4) };
    sources.push(s4);
    let stop = false;
    const running = [s1, s2, s3];
    const writers = running.map((s, i) => workload(s, i + 1, 200 + i, () => stop));
    await setupSource(s4, 4);
    await addTable(s4.db, target, { subscription: 'shard4', table: 'orders', mergeColumn: 'source' });
    const before = await Promise.all(running.map(async (s) => (await getStatus(target, s.name)).appliedTick));
    startWorker(s4);
    const w4 = workload(s4, 4, 204, () => stop);
    await waitFor('shard4 to be copied', () => allOk(s4), 120_000);
    stop = true;
    await Promise.all([...writers, w4]);
    // A TRUNCATE on one source empties its rows only.
    await s4.db.query(`TRUNCATE orders`);
    await s4.db.query(`INSERT INTO orders SELECT g * 10 + 4, 1, g, 'after truncate' FROM generate_series(1, 50) g`);
    for (const s of sources) await waitFor(`${s.name} to equal its source`, () => same(s), 120_000);
    // The others went on meanwhile (their positions moved past where they were at the add).
    const after = await Promise.all(running.map(async (s) => (await getStatus(target, s.name)).appliedTick));
    after.forEach((t, i) => expect(BigInt(t!)).toBeGreaterThan(BigInt(before[i]!)));

    // A resync of one source copies its rows again (a row changed on the target by hand is
    // put back); the others' stay.
    await target.query(`UPDATE orders SET note = 'changed by hand' WHERE source = 'shard1' AND id = (SELECT min(id) FROM orders WHERE source = 'shard1')`);
    const others = await tableJson(target, `orders WHERE source <> 'shard1'`, 'id, source');
    await resyncTable(target, { subscription: 'shard1', table: 'orders' });
    await waitFor('shard1 to be copied again', () => allOk(s1), 120_000);
    await waitFor('shard1 to equal its source after the resync', () => same(s1), 120_000);
    expect(await tableJson(target, `orders WHERE source <> 'shard1'`, 'id, source')).toBe(others);

    // Remove shard2 (its worker stopped, its leaf dropped) and shard4's table, while the
    // others write: the removed sources' rows stay as they were, the others go on.
    await s2.worker!.stop();
    await dropLeafNode(s2.db, target, { node: 'shard2' });
    await removeTable(s4.db, target, { subscription: 'shard4', table: 'orders' });
    const frozen2 = await merged(s2);
    const frozen4 = await merged(s4);
    await Promise.all([s1, s3, s2, s4].map((s, i) => workload(s, Number(s.name.slice(5)), 300 + i, () => false, 60)));
    for (const s of [s1, s3]) await waitFor(`${s.name} to equal its source after the removals`, () => same(s), 120_000);
    expect(await merged(s2)).toBe(frozen2);
    expect(await merged(s4)).toBe(frozen4);
    expect(await same(s2)).toBe(false); // shard2 wrote on: those changes are not replicated any more
  }, 600_000);

  it('stops a source whose key collides with another source\'s row, naming both; the first row stays, the others go on', async () => {
    const [s1, , s3] = sources as [Source, Source, Source];
    await s1.db.query(`INSERT INTO orders VALUES (7, 1, 10.00, 'from shard1')`);
    await waitFor('shard1\'s key 7 on the target', async () => (await target.query(`SELECT FROM orders WHERE id = 7`)).rowCount === 1);
    await s3.db.query(`INSERT INTO orders VALUES (7, 3, 30.00, 'from shard3'), (999993, 3, 1, 'same batch')`);
    const collision = /key \(id\)=\(7\) of public\.orders from source "shard3" collides with the row of source "shard1"/;
    await waitFor('shard3\'s stream to stop on the collision', async () => collision.test((await getStatus(target, 'shard3')).lastError ?? ''), 60_000);
    const row7 = await target.query(`SELECT source, note FROM orders WHERE id = 7`);
    expect(row7.rows).toEqual([{ source: 'shard1', note: 'from shard1' }]);
    // Nothing of shard3's failing batch landed; shard1 goes on.
    expect((await target.query(`SELECT FROM orders WHERE id = 999993`)).rowCount).toBe(0);
    await s1.db.query(`INSERT INTO orders VALUES (999991, 1, 1, 'after the collision')`);
    await waitFor('shard1 to go on', async () => (await target.query(`SELECT FROM orders WHERE id = 999991`)).rowCount === 1);
    expect((await getStatus(target, 'shard1')).lastError).toBeNull();
    // The status command shows it too (and exits 1: the subscription reports an error).
    const cli = await pgferry(['replicate', 'status', '--subscriber', targetUrl, '--node', 'shard3']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(collision);
    // Resolved on the providers (the key leaves shard1): shard3's insert lands.
    await s1.db.query(`DELETE FROM orders WHERE id = 7`);
    await waitFor('shard3\'s key 7 to land', async () => {
      const r = await target.query(`SELECT source, note FROM orders WHERE id = 7`);
      return r.rows[0]?.source === 'shard3' && r.rows[0]?.note === 'from shard3';
    }, 60_000);
    for (const s of [s1, s3]) await waitFor(`${s.name} to equal its source`, () => same(s), 60_000);

    // A source added with a key another source holds: its copy fails, naming both, and
    // leaves the table as it was.
    const held = (await target.query<{ id: string }>(`SELECT id::text FROM orders WHERE source = 'shard1' ORDER BY id LIMIT 1`)).rows[0]!.id;
    const url5 = await servers[1]!.createDatabase('shard5');
    const s5: Source = { name: 'shard5', url: url5, db: pool(url5) };
    sources.push(s5);
    await setupSource(s5, 5);
    await s5.db.query(`INSERT INTO orders VALUES ($1, 5, 5, 'from shard5')`, [held]);
    await addTable(s5.db, target, { subscription: 'shard5', table: 'orders', mergeColumn: 'source' });
    const before = await tableJson(target, 'orders', 'id, source');
    startWorker(s5);
    const copyCollision = new RegExp(`key \\(id\\)=\\(${held}\\) of public\\.orders from source "shard5" collides with the row of source "shard1"`);
    await waitFor('shard5\'s copy to fail on the collision', async () => {
      const st = await getStatus(target, 'shard5');
      return st.tables.some((t) => copyCollision.test(t.lastError ?? '')) || copyCollision.test(st.lastError ?? '');
    }, 60_000);
    await s5.worker!.stop();
    expect((await listTables(target, 'shard5'))[0]!.state).toBe('in-copy');
    expect((await target.query(`SELECT count(*)::int AS n FROM orders WHERE source = 'shard5'`)).rows[0].n).toBe(0);
    expect(await tableJson(target, 'orders', 'id, source')).toBe(before);
  }, 300_000);

  it('merges into a table LIST-partitioned by the merge column, whose changes feed a queue on the target', async () => {
    const [s1, , s3] = sources as [Source, Source, Source]; // their tickers run since the first test
    const url = await servers[3]!.createDatabase('reporting_p');
    const tp = pool(url);
    const downUrl = await servers[3]!.createDatabase('dashboard');
    const down = pool(downUrl);
    const running: { stop(): Promise<unknown> }[] = [];
    try {
      // A partition per source; the key is (id, source), as a partitioned table's must hold
      // its partition key: no index spans the sources, the apply finds collisions itself.
      await tp.query(`CREATE TABLE orders (id bigint NOT NULL, customer int NOT NULL, amount numeric(12,2), note text,
                                           source text NOT NULL, PRIMARY KEY (id, source)) PARTITION BY LIST (source)`);
      for (const p of ['p1', 'p3']) await tp.query(`CREATE TABLE orders_${p} PARTITION OF orders FOR VALUES IN ('${p}')`);
      // The target is a root as well: its queue carries the merged changes to a further leaf.
      await createRootNode(tp, { node: 'reporting', queue: 'merged' });
      await createLeafNode(tp, down, { node: 'dash' });
      await addTable(tp, down, { subscription: 'dash', table: 'orders', create: true });
      for (const [s, leaf] of [[s1, 'p1'], [s3, 'p3']] as const) {
        await createLeafNode(s.db, tp, { node: leaf });
        await addTable(s.db, tp, { subscription: leaf, table: 'orders', mergeColumn: 'source', captureApplied: true });
        running.push(new SubscriptionWorker({ subscription: leaf, provider: s.url, subscriber: url, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500 }).start());
      }
      running.push(new Ticker({ connectionString: url }, { tickIntervalMs: 20, maintIntervalMs: 500 }).start());
      running.push(new SubscriptionWorker({ subscription: 'dash', provider: url, subscriber: downUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500 }).start());

      await Promise.all([workload(s1, 1, 401, () => false, 150), workload(s3, 3, 403, () => false, 150)]);
      const part = (leaf: string) => tableJson(tp, `orders WHERE source = '${leaf}'`, 'id', COLUMNS);
      const sameAll = async () =>
        (await tableJson(s1.db, 'orders', 'id', COLUMNS)) === (await part('p1')) &&
        (await tableJson(s3.db, 'orders', 'id', COLUMNS)) === (await part('p3')) &&
        (await tableJson(tp, 'orders', 'id, source')) === (await tableJson(down, 'orders', 'id, source'));
      await waitFor('the partitions to equal their sources, and the downstream leaf the merged table', sameAll, 120_000);
      const parts = await tp.query(`SELECT tableoid::regclass::text AS p, min(source) AS lo, max(source) AS hi FROM orders GROUP BY 1 ORDER BY 1`);
      expect(parts.rows).toEqual([{ p: 'orders_p1', lo: 'p1', hi: 'p1' }, { p: 'orders_p3', lo: 'p3', hi: 'p3' }]);

      // No unique index spans the partitions: the collision is still found and named.
      await s1.db.query(`INSERT INTO orders VALUES (5, 1, 5, 'from shard1')`);
      await waitFor('key 5 of p1 on the target', async () => (await tp.query(`SELECT FROM orders WHERE id = 5`)).rowCount === 1);
      await s3.db.query(`INSERT INTO orders VALUES (5, 3, 5, 'from shard3')`);
      const collision = /key \(id\)=\(5\) of public\.orders from source "p3" collides with the row of source "p1"/;
      await waitFor('p3 to stop on the collision', async () => collision.test((await getStatus(tp, 'p3')).lastError ?? ''), 60_000);
      expect((await tp.query(`SELECT source, note FROM orders WHERE id = 5`)).rows).toEqual([{ source: 'p1', note: 'from shard1' }]);
      await waitFor('the downstream leaf to have key 5 of p1', async () => (await tableJson(tp, 'orders', 'id, source')) === (await tableJson(down, 'orders', 'id, source')));
    } finally {
      for (const r of running.reverse()) await r.stop().catch(() => undefined);
      await Promise.allSettled([tp.end(), down.end()]);
    }
  }, 300_000);
});
