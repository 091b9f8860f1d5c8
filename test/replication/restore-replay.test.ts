/**
 * A subscriber restored from a backup (a file-level copy of its data directory, taken with
 * its server stopped) is behind its provider's position: the queue has moved on past what
 * the restored database holds. The worker replays the events after the subscriber's own
 * position (its consumer on the provider goes back there) and ends identical to the
 * provider, each ledger row inserted once; restored further back than the queue keeps, it
 * stops and says what to do, applying nothing, and goes on once its tables are copied again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { getConsumerInfo, listTicks, setQueueConfig } from '@pgferry/queue';
import { listTables, resyncTable } from '@pgferry/replicator';
import { appliedTick, coldBackup, restoreBackup, stopReplication, tableJson, waitFor, waitForApplied, type Replication } from './helpers.js';
import { AUDIT_LEDGER, ORDER_BY, WORKLOAD_TABLES, Workload, ledgerDuplicates, startWorkloadReplication } from './workload.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a subscriber restored from a backup', () => {
  let r: Replication;
  let backups: string;
  const log: string[] = [];

  beforeAll(async () => {
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-backups-'));
    r = await startWorkloadReplication('restore', log);
    await r.subscriber.query(AUDIT_LEDGER);
  });
  afterAll(async () => {
    await stopReplication(r);
    await rm(backups, { recursive: true, force: true });
  });

  /** A cold backup of the subscriber. */
  async function backup(name: string): Promise<string> {
    const dir = path.join(backups, name);
    await coldBackup(r.subscriberServer, dir);
    return dir;
  }

  /** The incident: the subscriber's data is lost; its backup is put back in place. */
  const restore = (dir: string) => restoreBackup(r.subscriberServer, dir);

  const subscriberTick = () => appliedTick(r.subscriber);
  const providerTick = async () => BigInt((await getConsumerInfo(r.provider, 'repl', 'leaf1'))[0]!.lastTick!);

  /** Once the writers stopped: a tick after their last commit (the newest tick may precede it), applied. */
  async function caughtUp(): Promise<void> {
    await waitForApplied(r);
    for (const t of WORKLOAD_TABLES) expect(await tableJson(r.subscriber, t, ORDER_BY[t]), t).toBe(await tableJson(r.provider, t, ORDER_BY[t]));
    expect(await ledgerDuplicates(r.subscriber)).toEqual([]);
  }

  it('replays the events after its own position, each once', { timeout: 240_000 }, async () => {
    onTestFailed(() => console.error(`worker log:\n${log.join('\n')}`));
    const load = new Workload(() => r.provider, 11).start(3);
    try {
      await sleep(1500);
      const dir = await backup('first');
      const atBackup = await subscriberTick();
      // Traffic goes on and is applied: the provider's position moves well past the backup's.
      await waitFor('the worker applied more', async () => (await subscriberTick()) > atBackup + 20n);
      await sleep(1000);
      // The provider's position is past the backup's: without a replay the events in between
      // would be skipped once the backup is back.
      expect(await providerTick()).toBeGreaterThan(atBackup + 20n);
      await restore(dir);
      expect(await subscriberTick()).toBe(atBackup);
      await sleep(1500);
    } finally {
      const stats = await load.stop();
      expect(stats.commits).toBeGreaterThan(20);
    }
    await caughtUp();
    expect(r.worker.snapshot().lastError).toBeNull();
    expect(r.worker.snapshot().rewinds).toBe(1);
  });

  it('stops, applying nothing, when the queue no longer holds the events after its position; goes on after a resync', { timeout: 300_000 }, async () => {
    onTestFailed(() => console.error(`worker log:\n${log.join('\n')}`));
    const dir = await backup('second');
    const atBackup = await subscriberTick();
    // Rotate the queue's event tables until the backup's tick can no longer be gone back to.
    await setQueueConfig(r.provider, 'repl', { rotation_period: 1 });
    const load = new Workload(() => r.provider, 12).start(2);
    try {
      await waitFor(
        'the backup\'s tick rotated away',
        async () => !(await listTicks(r.provider, 'repl', { limit: 100_000 })).some((t) => BigInt(t.tickId) === atBackup && t.available),
        120_000,
      );
    } finally {
      await load.stop();
    }
    await restore(dir);
    const before = await Promise.all(WORKLOAD_TABLES.map((t) => tableJson(r.subscriber, t, ORDER_BY[t])));
    await waitFor('the worker reports the lost events', async () => /no longer holds the events after that tick/.test(r.worker.snapshot().lastError ?? ''));
    expect(r.worker.snapshot().lastError).toContain(`subscription "leaf1" is at tick ${atBackup} on the subscriber`);
    expect(r.worker.snapshot().lastError).toContain('pgferry replicate resync');
    await sleep(1000);
    expect(await subscriberTick()).toBe(atBackup);
    expect(await Promise.all(WORKLOAD_TABLES.map((t) => tableJson(r.subscriber, t, ORDER_BY[t])))).toEqual(before);

    // Copied again, no table needs the lost events: the stream goes on past them.
    for (const table of WORKLOAD_TABLES) await resyncTable(r.subscriber, { subscription: 'leaf1', table });
    await waitFor('tables copied again', async () => (await listTables(r.subscriber, 'leaf1')).every((t) => t.state === 'ok'), 120_000);
    await r.subscriber.query('TRUNCATE ledger_audit');
    const load2 = new Workload(() => r.provider, 13).start(2);
    await sleep(1500);
    await load2.stop();
    await caughtUp();
  });
});
