/**
 * A provider restored from a backup (a file-level copy of its data directory, taken with its
 * server stopped) is behind its subscriber: the subscriber applied ticks the restored queue
 * never made, and the queue's new ticks reuse those ids. Taking their batches as applied
 * would skip the provider's new changes without a word; the worker stops instead, applying
 * nothing, and says what happened and what to do. Once every table was copied again it
 * follows the provider's history, and ends identical to it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { forceTick, getConsumerInfo } from '@pgferry/queue';
import { listTables, resyncTable } from '@pgferry/replicator';
import { appliedTick, coldBackup, restoreBackup, stopReplication, tableJson, waitFor, waitForApplied, type Replication } from './helpers.js';
import { ORDER_BY, WORKLOAD_TABLES, Workload, startWorkloadReplication } from './workload.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a provider restored from a backup', () => {
  let r: Replication;
  let backups: string;
  const log: string[] = [];

  beforeAll(async () => {
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-backups-'));
    r = await startWorkloadReplication('prov-restore', log);
  });
  afterAll(async () => {
    await stopReplication(r);
    await rm(backups, { recursive: true, force: true });
  });

  const subscriberTick = () => appliedTick(r.subscriber);
  const tables = (db: Replication['provider']) => Promise.all(WORKLOAD_TABLES.map((t) => tableJson(db, t, ORDER_BY[t])));

  /** A tick after the last commit, applied: both sides identical. */
  async function caughtUp(): Promise<void> {
    await waitForApplied(r);
    expect(await tables(r.subscriber)).toEqual(await tables(r.provider));
  }

  it('stops, applying nothing, when the provider lost ticks the subscriber applied; follows the provider again once its tables are copied again', { timeout: 300_000 }, async () => {
    onTestFailed(() => console.error(`worker log:\n${log.join('\n')}`));
    const dir = path.join(backups, 'provider');
    await coldBackup(r.providerServer, dir);
    const atBackup = BigInt((await getConsumerInfo(r.provider, 'repl', 'leaf1'))[0]!.lastTick!);

    // Traffic after the backup, applied by the subscriber.
    const load = new Workload(() => r.provider, 21).start(2);
    try {
      await waitFor('the worker applied more', async () => (await subscriberTick()) > atBackup + 10n, 120_000);
    } finally {
      await load.stop();
    }
    await caughtUp();
    const applied = await subscriberTick();

    // The incident: the provider's data is lost, its backup put back in place.
    await restoreBackup(r.providerServer, dir);
    const before = await tables(r.subscriber);

    // New changes on the restored provider, in ticks that reuse the ids the subscriber has seen and pass them.
    await r.provider.query(`INSERT INTO logs VALUES (-1, 'written after the restore')`);
    while (BigInt(await forceTick(r.provider, 'repl')) <= applied + 2n) await r.provider.query(`UPDATE acct SET owner = owner || '.' WHERE id = 1`);
    await waitFor('the worker reports the other history', async () => /its provider has (no|another) tick/.test(r.worker.snapshot().lastError ?? ''), 60_000);
    const error = r.worker.snapshot().lastError!;
    expect(error).toContain(`subscription "leaf1" applied tick ${applied}`);
    expect(error).toContain('restored from a backup?');
    expect(error).toContain('pgferry replicate resync');
    await sleep(1000);
    expect(await subscriberTick()).toBe(applied);
    expect(await tables(r.subscriber)).toEqual(before); // nothing applied, nothing skipped as applied

    // Every table copied again: none depends on the old history, the stream follows the provider's.
    for (const table of WORKLOAD_TABLES) await resyncTable(r.subscriber, { subscription: 'leaf1', table });
    await waitFor('tables copied again', async () => (await listTables(r.subscriber, 'leaf1')).every((t) => t.state === 'ok'), 120_000);
    await caughtUp();
    expect((await r.subscriber.query(`SELECT msg FROM logs WHERE k = -1`)).rows).toEqual([{ msg: 'written after the restore' }]);
    expect(log.some((l) => /following the provider's history from tick/.test(l))).toBe(true);
    const load2 = new Workload(() => r.provider, 22).start(2);
    await sleep(1500);
    await load2.stop();
    await caughtUp();
    expect(r.worker.snapshot().lastError).toBeNull();
  });
});
