/**
 * Failover on three servers. The root's server is killed while writes go on, at a moment
 * when its branch has applied some ticks and not others; the branch takes over and takes
 * writes, the leaf that read from the dead root follows it, and the report names the tick
 * from which the dead root's changes are lost. When the old root's server comes back,
 * resurrect lists exactly the changes it committed and nobody got (the test checks them
 * against its ledger rows), and it rejoins as a branch, its tables copied again: all three
 * identical at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeProvider, listNodes, resurrect, takeover } from '@pgferry/replicator';
import { waitFor } from './helpers.js';
import { addWorkloadTables, startCascade, stopCascade, waitIdentical, type Cascade } from './cascade-env.js';
import { WorkerProcess } from './worker-process.js';
import { Workload, ledgerDuplicates } from './workload.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('takeover of a dead root, and its return', () => {
  let c: Cascade;
  let branchOnly: WorkerProcess | undefined;

  beforeAll(async () => {
    c = await startCascade();
    await c.worker.start();
    await addWorkloadTables(c.root.pool, c.branch.pool, 'branch');
    await addWorkloadTables(c.branch.pool, c.leaf.pool, 'leaf');
    // The leaf reads from the root: a survivor the takeover must move.
    await changeProvider(c.leaf.pool, c.root.pool, { node: 'leaf', providerLocation: c.root.url, location: c.leaf.url, oldProvider: c.branch.pool });
  }, 300_000);

  afterAll(async () => {
    await branchOnly?.close().catch(() => undefined);
    await stopCascade(c);
  });

  it('promotes the branch, moves the leaf, reports the lost tick; resurrect lists exactly the lost changes', { timeout: 600_000 }, async () => {
    let writeTo = c.root;
    const load = new Workload(() => writeTo.pool, 4242).start();
    await sleep(2000);
    // Only the branch goes on applying (the leaf stays behind it), then the root dies with
    // the workload still writing: what it commits from then on reaches nobody.
    await c.worker.kill();
    branchOnly = new WorkerProcess({ subscriptions: [{ subscription: 'branch', subscriber: c.branch.url, pollIntervalMs: 50, retryMinMs: 100 }], tickIntervalMs: 50 });
    await branchOnly.start();
    // The branch must get past the leaf's position (frozen since the kill) before the root
    // dies: a leaf ahead of the new root is a survivor that cannot be moved.
    const tickOf = async (db: typeof c.root, node: string) =>
      BigInt((await db.pool.query<{ t: string | null }>('SELECT at_tick_id AS t FROM pgferry.applied_tick WHERE at_subscription = $1', [node])).rows[0]?.t ?? '0');
    const leafTick = await tickOf(c.leaf, 'leaf');
    await waitFor('the branch past the leaf', async () => (await tickOf(c.branch, 'branch')) > leafTick + 1n, 120_000, 100);
    await branchOnly.kill();
    await sleep(300);
    await c.root.server.kill();
    await c.worker.start();

    const report = await takeover(c.branch.pool, { newRootLocation: c.branch.url, survivors: [{ node: 'leaf', db: c.leaf.pool }], deadRoot: null });
    writeTo = c.branch;
    expect(report).toMatchObject({ deadRoot: 'root', newRoot: 'branch', deadRootFenced: false });
    expect(report.survivors).toEqual([expect.objectContaining({ node: 'leaf', outcome: 'moved' })]);
    expect(BigInt(report.survivors[0]!.appliedTick!)).toBeLessThanOrEqual(BigInt(report.failoverTick));
    expect((await listNodes(c.branch.pool)).find((n) => n.isLocal)).toMatchObject({ type: 'root' });
    expect((await listNodes(c.leaf.pool)).find((n) => n.isLocal)).toMatchObject({ providerNode: 'branch' });
    await sleep(2000);
    await load.stop();
    await waitIdentical([c.branch, c.leaf]);

    // The old root comes back: its ledger rows that nobody has are what was lost.
    await c.root.server.startAgain();
    const rootIds = new Set((await c.root.pool.query<{ id: string }>('SELECT id FROM ledger')).rows.map((r) => r.id));
    const branchIds = new Set((await c.branch.pool.query<{ id: string }>('SELECT id FROM ledger')).rows.map((r) => r.id));
    const lostRows = [...rootIds].filter((id) => !branchIds.has(id)).sort();
    const r = await resurrect(c.root.pool, c.branch.pool, { oldRootLocation: c.root.url, newRootLocation: c.branch.url });
    const lostLedger = r.lost
      .filter((l) => l.table === 'public.ledger' && l.op === 'I')
      .map((l) => (JSON.parse(l.key!) as string[])[0]!)
      .sort();
    console.log(`takeover at tick ${report.failoverTick}: ${r.lost.length} change(s) lost (${JSON.stringify(r.summary)})`);
    expect(lostRows.length).toBeGreaterThan(0);
    expect(lostLedger).toEqual(lostRows);
    // The old root takes no writes; it is a branch of the new root, its tables copied again.
    await expect(c.root.pool.query(`INSERT INTO ledger VALUES (-1, 0, 'old root')`)).rejects.toThrow(/disabled/);
    expect((await listNodes(c.root.pool)).find((n) => n.isLocal)).toMatchObject({ type: 'branch', providerNode: 'branch' });
    await waitFor('the old root copied again', async () => (await c.root.pool.query(`SELECT count(*) FILTER (WHERE st_state <> 'ok') AS n FROM pgferry.subscriber_table WHERE st_subscription = 'root'`)).rows[0].n === '0', 120_000, 300);
    await waitIdentical([c.branch, c.leaf, c.root]);
    expect(await ledgerDuplicates(c.leaf.pool)).toEqual([]);
  });
});
