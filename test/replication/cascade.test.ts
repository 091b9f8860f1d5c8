/**
 * A cascade on three servers, root -> branch -> leaf: the branch applies the root's changes
 * and carries its queue (same events, same ticks) to the leaf; under a random workload and
 * worker SIGKILLs all three end identical, and no change reaches a node twice (the ledger's
 * audit). Then the leaf moves from the branch to the root and back (change-provider) while
 * the workload runs: nothing lost, nothing applied twice, no copy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedTable, getConsumerInfo } from '@pgferry/queue';
import { addTable, changeProvider, listNodes, removeTable, switchover, waitForProvider, waitForRoot, waitForSync, watermarkConsumerName } from '@pgferry/replicator';
import { rng, tableJson } from './helpers.js';
import { pgferry } from './cli.js';
import { addWorkloadTables, startCascade, stopCascade, waitIdentical, type Cascade } from './cascade-env.js';
import { ORDER_BY, WORKLOAD_TABLES, Workload, ledgerDuplicates } from './workload.js';

const SEED = Number(process.env.PGFERRY_CASCADE_SEED ?? Date.now() % 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`cascade root -> branch -> leaf (seed ${SEED})`, () => {
  let c: Cascade;
  const random = rng(SEED);

  beforeAll(async () => {
    c = await startCascade();
  }, 120_000);

  afterAll(() => stopCascade(c));

  /** Kill the worker `n` times at random moments, starting it again each time. */
  const killWorker = (n: number) => c.worker.killRepeatedly(n, random);

  async function expectNoDuplicates(): Promise<void> {
    for (const n of [c.branch, c.leaf]) {
      expect(await ledgerDuplicates(n.pool), `ledger rows applied twice on ${n.name}`).toEqual([]);
    }
  }

  it('keeps root, branch and leaf identical under a random workload with worker SIGKILLs', { timeout: 600_000 }, async () => {
    await c.worker.start();
    const load = new Workload(() => c.root.pool, SEED).start();
    await addWorkloadTables(c.root.pool, c.branch.pool, 'branch');
    // A leaf copies from the branch only once the branch has the table.
    await addWorkloadTables(c.branch.pool, c.leaf.pool, 'leaf');
    await killWorker(12);
    const stats = await load.stop();
    // What the waits promise, read at once: every table ok (wait-sync), the root's commits on
    // the branch (wait-root), and the branch's on the leaf (wait-provider from a branch).
    for (const n of [c.branch, c.leaf]) await waitForSync(n.pool, n.name, { timeoutMs: 180_000 });
    await waitForRoot(c.root.pool, c.branch.pool, 'branch', { timeoutMs: 180_000 });
    await waitForProvider(c.branch.pool, c.leaf.pool, 'leaf', { timeoutMs: 180_000 });
    for (const t of WORKLOAD_TABLES) expect(await tableJson(c.leaf.pool, t, ORDER_BY[t]), t).toBe(await tableJson(c.root.pool, t, ORDER_BY[t]));
    const viaRoot = await pgferry(['replicate', 'wait-root', '--root', c.root.url, '--subscriber', c.leaf.url, '--node', 'leaf', '--timeout', '120', '--json']);
    expect(viaRoot.code, viaRoot.stderr).toBe(0);
    expect(JSON.parse(viaRoot.stdout)).toMatchObject({ node: 'leaf' });
    await waitIdentical([c.root, c.branch, c.leaf]);
    await expectNoDuplicates();
    expect(stats.commits).toBeGreaterThan(50);
    expect(Number((await c.leaf.pool.query('SELECT count(*) AS n FROM ledger')).rows[0].n)).toBeGreaterThan(20);
    // The branch holds the root's events for the leaf below it: its watermark on the root.
    const [wm] = await getConsumerInfo(c.root.pool, 'repl', watermarkConsumerName('branch'));
    expect(wm?.lastTick).not.toBeNull();
  });

  it('moves the leaf to the root and back (change-provider) under load: nothing lost or applied twice', { timeout: 600_000 }, async () => {
    const load = new Workload(() => c.root.pool, SEED + 1).start();
    await sleep(1500);
    const up = await changeProvider(c.leaf.pool, c.root.pool, { node: 'leaf', providerLocation: c.root.url, location: c.leaf.url, oldProvider: c.branch.pool });
    expect(up).toMatchObject({ from: 'branch', to: 'root', oldProviderCleanup: null });
    expect(await getConsumerInfo(c.branch.pool, 'repl', 'leaf')).toEqual([]);
    await killWorker(3);
    const down = await changeProvider(c.leaf.pool, c.branch.pool, { node: 'leaf', providerLocation: c.branch.url, oldProvider: c.root.pool });
    expect(down).toMatchObject({ from: 'root', to: 'branch', oldProviderCleanup: null });
    expect(BigInt(down.tickId!)).toBeGreaterThanOrEqual(BigInt(up.tickId!));
    await killWorker(2);
    await load.stop();
    await waitIdentical([c.root, c.branch, c.leaf]);
    await expectNoDuplicates();
    expect(await getConsumerInfo(c.root.pool, 'repl', 'leaf')).toEqual([]);
    expect((await listNodes(c.leaf.pool)).find((n) => n.name === 'leaf')).toMatchObject({ providerNode: 'branch', providerLocation: c.branch.url });
  });

  it('switches the root over to the branch and back under load: no event lost, the write pause measured', { timeout: 600_000 }, async () => {
    let writeTo = c.root;
    const load = new Workload(() => writeTo.pool, SEED + 2).start();
    await sleep(1500);
    const there = await switchover(c.root.pool, c.branch.pool, { oldRootLocation: c.root.url, newRootLocation: c.branch.url });
    writeTo = c.branch;
    expect(there).toMatchObject({ oldRoot: 'root', newRoot: 'branch' });
    expect((await listNodes(c.root.pool)).find((n) => n.isLocal)).toMatchObject({ type: 'branch', providerNode: 'branch' });
    expect((await listNodes(c.branch.pool)).find((n) => n.isLocal)).toMatchObject({ type: 'root', providerNode: null });
    // The old root takes no writes now; the new one does.
    await expect(c.root.pool.query(`INSERT INTO ledger VALUES (-2, 0, 'old root')`)).rejects.toThrow(/disabled/);
    await killWorker(2);
    await sleep(1500);
    const back = await switchover(c.branch.pool, c.root.pool, { oldRootLocation: c.branch.url, newRootLocation: c.root.url });
    writeTo = c.root;
    expect(BigInt(back.tickId)).toBeGreaterThan(BigInt(there.tickId));
    await sleep(1000);
    const stats = await load.stop();
    console.log(`switchover write pauses: ${there.writePauseMs} ms (root -> branch), ${back.writePauseMs} ms (branch -> root); writes refused meanwhile: ${stats.errors}`);
    await waitIdentical([c.root, c.branch, c.leaf]);
    await expectNoDuplicates();
    expect((await listNodes(c.root.pool)).find((n) => n.isLocal)).toMatchObject({ type: 'root' });
    // The branch writes nothing of its own again.
    await expect(c.branch.pool.query(`INSERT INTO ledger VALUES (-3, 0, 'branch')`)).rejects.toThrow(/disabled/);
  });

  it('pgferry replicate: change-provider and status --cascade (every node, its provider, the lag of each hop)', { timeout: 120_000 }, async () => {
    const moved = await pgferry(['replicate', 'change-provider', '--subscriber', c.leaf.url, '--node', 'leaf', '--provider', c.root.url, '--json']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ node: 'leaf', from: 'branch', to: 'root', oldProviderCleanup: null });
    const st = await pgferry(['replicate', 'status', '--cascade', '--provider', c.root.url, '--json']);
    expect(st.code, st.stderr).toBe(0);
    const nodes = JSON.parse(st.stdout) as { node: string; type: string; provider: string | null; depth: number; lagSeconds: number | null; unreachable: string | null }[];
    expect(nodes.map((n) => [n.node, n.type, n.provider, n.depth])).toEqual([
      ['root', 'root', null, 0],
      ['branch', 'branch', 'root', 1],
      ['leaf', 'leaf', 'root', 1],
    ]);
    expect(nodes.every((n) => n.unreachable === null)).toBe(true);
    expect(nodes.slice(1).every((n) => typeof n.lagSeconds === 'number')).toBe(true);
    const back = await pgferry(['replicate', 'change-provider', '--subscriber', c.leaf.url, '--node', 'leaf', '--provider', c.branch.url]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/^node leaf reads from branch from tick \d+ \(was root\)/);
    const tree = await pgferry(['replicate', 'status', '--cascade', '--provider', c.root.url]);
    expect(tree.stdout).toMatch(/^root \(root\)[^\n]*\n  └─ branch \(branch\)[^\n]*\n    └─ leaf \(leaf\)/);
  });

  it('refuses moves that cannot work, changing nothing', async () => {
    // A node is not its own provider, and a leaf provides nothing.
    await expect(changeProvider(c.branch.pool, c.branch.pool, { node: 'branch', providerLocation: c.branch.url })).rejects.toThrow(/its own provider/);
    await expect(changeProvider(c.leaf.pool, c.leaf.pool, { node: 'leaf', providerLocation: c.leaf.url })).rejects.toThrow(/neither a root nor a branch/);
    // Writes on a branch are refused: its tables change only by replication.
    await expect(c.branch.pool.query(`INSERT INTO ledger VALUES (-1, 0, 'local')`)).rejects.toThrow(/disabled/);
    // A branch captures what it replicates, and provides only that.
    expect(await capturedTable(c.branch.pool, 'repl', 'public.logs')).toBeDefined();
    await removeTable(c.root.pool, c.branch.pool, { subscription: 'branch', table: 'logs' });
    expect(await capturedTable(c.branch.pool, 'repl', 'public.logs')).toBeUndefined();
    await expect(addTable(c.branch.pool, c.leaf.pool, { subscription: 'leaf', table: 'logs' })).rejects.toThrow(/branch "branch" does not replicate public.logs/);
    await expect(addTable(c.root.pool, c.branch.pool, { subscription: 'branch', table: 'logs', dest: 'logs2', create: true })).rejects.toThrow(/keeps its provider's table names/);
    await expect(addTable(c.root.pool, c.branch.pool, { subscription: 'branch', table: 'logs', mergeColumn: 'src' })).rejects.toThrow(/keeps its provider's tables as they are/);
  });
});
