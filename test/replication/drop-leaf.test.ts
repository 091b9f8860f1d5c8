/**
 * Leaf names and drop-leaf. Every name derived from a leaf's (its consumer, its copy
 * consumers) is valid whenever the leaf's name was accepted: the longest accepted name copies
 * and replicates, one more character is refused before anything changes. A name another
 * database or consumer has is refused. drop-leaf removes the leaf's consumers (none is left
 * to block rotation) and rows on both sides, keeps the subscriber's tables and data, is
 * idempotent, and is refused while a worker serves the leaf unless forced.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { forceTick, registerConsumer } from '@pgferry/queue';
import {
  ReplicationSetupError,
  SubscriptionInUseError,
  SubscriptionWorker,
  addTable,
  copyConsumerName,
  createLeafNode,
  createRootNode,
  dropLeafNode,
  listTables,
  maxNodeNameLength,
  removeTable,
} from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { tableJson, waitFor } from './helpers.js';

const replicate = (args: string[]) => pgferry(['replicate', ...args]);

describe('leaf names and drop-leaf', () => {
  const prov = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });
  const sub2 = useTestDatabase({ install: false });
  const longest = 'L'.repeat(maxNodeNameLength());

  const consumers = async () =>
    (await prov.pool.query<{ c: string }>(`SELECT consumer_name AS c FROM pgferry.get_consumer_info('repl') ORDER BY 1`)).rows.map((r) => r.c).sort();
  const providerNodes = async () => (await prov.pool.query(`SELECT node_name, node_type FROM pgferry.repl_node ORDER BY 1`)).rows;
  /** The subscriber's rows of subscription `name`, in every table drop-leaf cleans. */
  const subscriberRows = async (db: typeof sub, name: string) => {
    if ((await db.pool.query(`SELECT to_regnamespace('pgferry') AS n`)).rows[0].n === null) return 'pgferry not installed';
    const count = async (q: string) => (await db.pool.query<{ n: number }>(q, [name])).rows[0]!.n;
    return {
      node: await count('SELECT count(*)::int AS n FROM pgferry.repl_node WHERE node_name = $1'),
      tables: await count('SELECT count(*)::int AS n FROM pgferry.subscriber_table WHERE st_subscription = $1'),
      tick: await count('SELECT count(*)::int AS n FROM pgferry.applied_tick WHERE at_subscription = $1'),
      status: await count('SELECT count(*)::int AS n FROM pgferry.repl_status WHERE rs_subscription = $1'),
    };
  };

  it('refuses a node name whose derived names would be invalid, before changing anything', async () => {
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    const before = { consumers: await consumers(), nodes: await providerNodes() };
    const tooLong = 'L'.repeat(maxNodeNameLength() + 1);
    for (const bad of [tooLong, 'eu:west', 'leaf1:copy:0123456789ab']) {
      const err = await createLeafNode(prov.pool, sub.pool, { node: bad }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReplicationSetupError);
      expect((err as Error).message).toMatch(new RegExp(`invalid node name .*use 1 to ${maxNodeNameLength()} characters`));
    }
    await expect(createRootNode(prov.pool, { node: tooLong })).rejects.toThrow(/invalid node name/);
    expect({ consumers: await consumers(), nodes: await providerNodes() }).toEqual(before);
    expect(await subscriberRows(sub, tooLong)).toBe('pgferry not installed');
  });

  it('copies and replicates with a leaf of the longest name (its copy consumer has 100 characters)', async () => {
    await prov.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await prov.pool.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g`);
    await createLeafNode(prov.pool, sub.pool, { node: longest });
    await addTable(prov.pool, sub.pool, { subscription: longest, table: 't', create: true });
    expect(copyConsumerName(longest, 'public.t')).toHaveLength(100);
    const w = new SubscriptionWorker({ subscription: longest, provider: prov.url, subscriber: sub.url, pollIntervalMs: 20 }).start();
    try {
      // The worker ticks for the hand-off itself.
      await waitFor('copied and handed off', async () => (await listTables(sub.pool, longest))[0]?.state === 'ok');
      await prov.pool.query(`UPDATE t SET v = 'after' WHERE id <= 5`);
      await forceTick(prov.pool, 'repl');
      await waitFor('replicated', async () => (await tableJson(prov.pool, 't')) === (await tableJson(sub.pool, 't')));
    } finally {
      await w.stop();
    }
  });

  it("refuses a leaf name that another subscriber database, the root or another consumer has, and a leaf whose consumer was cut loose", async () => {
    await registerConsumer(prov.pool, 'repl', 'audit');
    const before = { consumers: await consumers(), nodes: await providerNodes() };
    // Two databases on one consumer would each get half of the batches.
    await expect(createLeafNode(prov.pool, sub2.pool, { node: longest })).rejects.toThrow(
      /leaf node "L+" exists on the provider, but not in this subscriber database/,
    );
    await expect(createLeafNode(prov.pool, sub2.pool, { node: 'audit' })).rejects.toThrow(
      /consumer "audit" is registered on queue "repl" and is not a node/,
    );
    await expect(createLeafNode(prov.pool, sub2.pool, { node: 'root' })).rejects.toThrow(/"root" is the provider node's name/);
    expect({ consumers: await consumers(), nodes: await providerNodes() }).toEqual(before);
    expect((await sub2.pool.query('SELECT count(*)::int AS n FROM pgferry.repl_node')).rows[0].n).toBe(0);
    // The same leaf and subscriber again: nothing changes.
    await createLeafNode(prov.pool, sub.pool, { node: longest });
    expect({ consumers: await consumers(), nodes: await providerNodes() }).toEqual(before);
    // Its consumer cut loose by an operator: registering it again would skip events silently.
    await createLeafNode(prov.pool, sub2.pool, { node: 'cut' });
    await prov.pool.query(`SELECT pgferry.unregister_consumer('repl', 'cut')`);
    await expect(createLeafNode(prov.pool, sub2.pool, { node: 'cut' })).rejects.toThrow(
      /leaf node "cut" has lost its consumer on queue "repl".*drop-leaf/,
    );
    expect(await consumers()).not.toContain('cut');
    await dropLeafNode(prov.pool, sub2.pool, { node: 'cut' });
  });

  it('drop-leaf is refused while a worker serves the leaf, then removes every consumer and row, keeps the data, and is idempotent', async () => {
    // A consumer that only shares the leaf's name as a prefix (not the leaf's: it stays).
    await registerConsumer(prov.pool, 'repl', `${longest}-x`);
    await sub.pool.query(
      `INSERT INTO pgferry.repl_status (rs_subscription, rs_scope, rs_last_error) VALUES ($1, 'main', 'an old error')`,
      [longest],
    );

    const w = new SubscriptionWorker({ subscription: longest, provider: prov.url, subscriber: sub.url, pollIntervalMs: 20 }).start();
    try {
      await waitFor('the worker to serve the leaf', async () => w.snapshot().active);
      const before = { consumers: await consumers(), nodes: await providerNodes(), rows: await subscriberRows(sub, longest) };
      const err = await dropLeafNode(prov.pool, sub.pool, { node: longest }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SubscriptionInUseError);
      expect((err as Error).message).toMatch(/a worker serves leaf "L+" \(subscriber backend pid \d+.*stop that worker/);
      expect({ consumers: await consumers(), nodes: await providerNodes(), rows: await subscriberRows(sub, longest) }).toEqual(before);
    } finally {
      await w.stop();
    }
    // A copy consumer left by a table that failed or was removed (a running worker drops
    // those; drop-leaf must not count on one running).
    const leftover = copyConsumerName(longest, 'public.gone');
    await registerConsumer(prov.pool, 'repl', leftover);

    const r = await dropLeafNode(prov.pool, sub.pool, { node: longest });
    expect(r).toEqual({
      node: longest,
      queue: 'repl',
      provider: { consumers: [longest, leftover].sort(), nodeRow: true },
      subscriber: { nodeRow: true, tables: ['public.t'], sequences: [], appliedTick: true, statusRows: expect.any(Number) },
      forced: false,
    });
    expect(r.subscriber.statusRows).toBeGreaterThanOrEqual(1);
    expect(await consumers()).toEqual([`${longest}-x`, 'audit'].sort());
    expect(await providerNodes()).toEqual([{ node_name: 'root', node_type: 'root' }]);
    expect(await subscriberRows(sub, longest)).toEqual({ node: 0, tables: 0, tick: 0, status: 0 });
    // The subscriber's table and its data stay.
    expect(await tableJson(sub.pool, 't')).toBe(await tableJson(prov.pool, 't'));

    // Again: nothing left to remove, and that is success.
    expect(await dropLeafNode(prov.pool, sub.pool, { node: longest })).toEqual({
      node: longest,
      queue: null,
      provider: { consumers: [], nodeRow: false },
      subscriber: { nodeRow: false, tables: [], sequences: [], appliedTick: false, statusRows: 0 },
      forced: false,
    });
    // The name is free again, for this subscriber database or another one.
    await createLeafNode(prov.pool, sub2.pool, { node: longest });
    await dropLeafNode(prov.pool, sub2.pool, { node: longest });
  });

  it('removes a leaf whose name is too long to copy (created before the name rule), which add-table refuses', async () => {
    const legacy = 'G'.repeat(90);
    // As an older version created it: consumer, node rows, position.
    await registerConsumer(prov.pool, 'repl', legacy);
    await prov.pool.query(`INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, provider_node, is_local) VALUES ($1, 'leaf', 'repl', 'root', false)`, [legacy]);
    await sub.pool.query(`INSERT INTO pgferry.repl_node (node_name, node_type, queue_name, provider_node, is_local) VALUES ($1, 'leaf', 'repl', 'root', true)`, [legacy]);
    await sub.pool.query(`INSERT INTO pgferry.applied_tick (at_subscription, at_queue) VALUES ($1, 'repl')`, [legacy]);
    await prov.pool.query('CREATE TABLE t2 (id int PRIMARY KEY)');
    const before = await consumers();
    await expect(addTable(prov.pool, sub.pool, { subscription: legacy, table: 't2', create: true })).rejects.toThrow(
      /leaf "G+" cannot copy tables: its copy consumer name "G+:copy:[0-9a-f]+" is not a valid consumer name.*drop-leaf/,
    );
    expect(await consumers()).toEqual(before);
    expect((await sub.pool.query(`SELECT to_regclass('t2') AS t`)).rows[0].t).toBeNull();

    const r = await replicate(['drop-leaf', '--provider', prov.url, '--subscriber', sub.url, '--node', legacy]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`provider: unregistered consumer ${legacy} from queue repl`);
    expect(r.stdout).toContain(`subscriber: removed node row ${legacy}`);
    expect(r.stdout.trim().split('\n').at(-1)).toBe(`leaf ${legacy} removed`);
    expect(await consumers()).not.toContain(legacy);
    expect(await subscriberRows(sub, legacy)).toEqual({ node: 0, tables: 0, tick: 0, status: 0 });
  });

  it('remove-table leaves no copy consumer behind, also one a copy registered before the table reached catching-up', async () => {
    await createLeafNode(prov.pool, sub2.pool, { node: 'leaf3' });
    await prov.pool.query('CREATE TABLE t3 (id int PRIMARY KEY)');
    await addTable(prov.pool, sub2.pool, { subscription: 'leaf3', table: 't3', create: true });
    // What a copy does first (no worker runs here to clean it up afterwards).
    await registerConsumer(prov.pool, 'repl', copyConsumerName('leaf3', 'public.t3'));
    await removeTable(prov.pool, sub2.pool, { subscription: 'leaf3', table: 't3' });
    expect((await consumers()).filter((c) => c.startsWith('leaf3'))).toEqual(['leaf3']);
    await dropLeafNode(prov.pool, sub2.pool, { node: 'leaf3' });
    expect((await consumers()).filter((c) => c.startsWith('leaf3'))).toEqual([]);
  });

  it('drop-leaf without the subscriber database (gone) removes the provider side, only with --force', async () => {
    await createLeafNode(prov.pool, sub2.pool, { node: 'orphan' });
    const before = { consumers: await consumers(), nodes: await providerNodes() };
    await expect(dropLeafNode(prov.pool, null, { node: 'orphan' })).rejects.toThrow(/without the subscriber database, no worker serving node "orphan" can be seen/);
    expect({ consumers: await consumers(), nodes: await providerNodes() }).toEqual(before);
    const r = await replicate(['drop-leaf', '--provider', prov.url, '--node', 'orphan', '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('subscriber: not given, nothing removed there');
    expect(r.stdout).toContain('provider: unregistered consumer orphan from queue repl');
    expect(await consumers()).not.toContain('orphan');
    expect((await providerNodes()).map((n) => n.node_name)).not.toContain('orphan');
    expect(await subscriberRows(sub2, 'orphan')).toMatchObject({ node: 1, tick: 1 }); // that database was not given
    await dropLeafNode(prov.pool, sub2.pool, { node: 'orphan' });
    expect(await subscriberRows(sub2, 'orphan')).toEqual({ node: 0, tables: 0, tick: 0, status: 0 });
  });

  it('drop-leaf --force removes a leaf a worker serves; without it the command exits 1 naming the worker', async () => {
    await createLeafNode(prov.pool, sub.pool, { node: 'leaf2' });
    const w = new SubscriptionWorker({ subscription: 'leaf2', provider: prov.url, subscriber: sub.url, pollIntervalMs: 20 }).start();
    try {
      await waitFor('the worker to serve the leaf', async () => w.snapshot().active);
      const args = ['drop-leaf', '--provider', prov.url, '--subscriber', sub.url, '--node', 'leaf2'];
      const refused = await replicate(args);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/pgferry: a worker serves leaf "leaf2" \(subscriber backend pid \d+/);
      expect(await consumers()).toContain('leaf2');
      const forced = await replicate([...args, '--force', '--json']);
      expect(forced.code).toBe(0);
      expect(JSON.parse(forced.stdout)).toMatchObject({ node: 'leaf2', forced: true, provider: { consumers: ['leaf2'], nodeRow: true } });
    } finally {
      await w.stop();
    }
    expect(await consumers()).not.toContain('leaf2');
    expect(await subscriberRows(sub, 'leaf2')).toEqual({ node: 0, tables: 0, tick: 0, status: expect.any(Number) });
  });
});
