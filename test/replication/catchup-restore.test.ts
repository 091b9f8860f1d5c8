/**
 * A provider restored from a backup while a table is catching up after its copy: the
 * catch-up's position (a tick id) is past the backup's, and the restored provider makes new
 * ticks under ids the catch-up has applied. Taking their batches as applied would skip the
 * provider's new changes without a word; the catch-up checks the tick's identity, stops
 * applying nothing (ProviderHistoryError, on the table), and a resync brings the table back.
 *
 * The table is held in catching-up by a test trigger on the subscriber that refuses its
 * hand-off to the main stream: its catch-up keeps following the main stream's position,
 * deterministic, without racing the hand-off. The provider's backup is a real cold one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceTick, getQueueInfo } from '@pgferry/queue';
import { SubscriptionWorker, addTable, getStatus, resyncTable } from '@pgferry/replicator';
import { coldBackup, restoreBackup, startReplication, stopReplication, tableJson, waitFor, waitForApplied, type Replication } from './helpers.js';

const WORKER = { subscription: 'leaf1', pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500 };

describe('a provider restored from a backup during a catch-up', () => {
  let r: Replication;
  let backups: string;

  beforeAll(async () => {
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-backups-'));
    r = await startReplication('catchup-restore', {
      async prepare(env) {
        await env.subscriber.query(`
          CREATE TABLE public.test_gate (hold boolean NOT NULL);
          INSERT INTO public.test_gate VALUES (true);
          CREATE FUNCTION public.hold_hand_off() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF OLD.st_state = 'catching-up' AND NEW.st_state = 'ok' AND (SELECT hold FROM public.test_gate) THEN
              RAISE EXCEPTION 'test: hand-off of % held', NEW.st_source;
            END IF;
            RETURN NEW;
          END $$;
          CREATE TRIGGER hold_hand_off BEFORE UPDATE ON pgferry.subscriber_table FOR EACH ROW EXECUTE FUNCTION public.hold_hand_off();`);
      },
    });
  });
  afterAll(async () => {
    await stopReplication(r);
    await rm(backups, { recursive: true, force: true });
  });

  const copyTick = async () =>
    BigInt((await r.subscriber.query<{ t: string }>(`SELECT st_copy_tick::text AS t FROM pgferry.subscriber_table WHERE st_source = 'public.b'`)).rows[0]!.t);
  const valueOnSubscriber = async (id: number) => (await r.subscriber.query<{ v: number }>('SELECT v FROM b WHERE id = $1', [id])).rows[0]?.v;
  /** An update of rows `ids` to `v` on the provider, and the catch-up applied it. */
  async function updateApplied(ids: [number, number], v: number): Promise<void> {
    await r.provider.query('UPDATE b SET v = $3 WHERE id BETWEEN $1 AND $2', [ids[0], ids[1], v]);
    await waitFor(`the catch-up to apply v = ${v}`, async () => (await valueOnSubscriber(ids[1])) === v, 120_000);
  }

  it('stops the catch-up, applying nothing, when the provider lost ticks it applied; a resync brings the table back', { timeout: 300_000 }, async () => {
    await r.provider.query('CREATE TABLE b (id int PRIMARY KEY, v int NOT NULL); INSERT INTO b SELECT g, 0 FROM generate_series(1, 1000) g');
    await addTable(r.provider, r.subscriber, { subscription: 'leaf1', table: 'b', create: true });
    // Copied, then held in catching-up: its catch-up follows the main stream's position.
    await updateApplied([1, 10], 1);
    expect((await getStatus(r.subscriber, 'leaf1')).tables[0]).toMatchObject({ state: 'catching-up' });

    const dir = path.join(backups, 'provider');
    const lastTickAtBackup = BigInt((await getQueueInfo(r.provider, 'repl'))[0]!.lastTickId);
    await coldBackup(r.providerServer, dir);
    // After the backup, the catch-up applies more, up to ticks the backup does not have.
    await updateApplied([11, 20], 2);
    while ((await copyTick()) < lastTickAtBackup + 3n) await updateApplied([11, 20], (await valueOnSubscriber(20))! + 1);
    await r.worker.stop();
    const before = await tableJson(r.subscriber, 'b');

    await restoreBackup(r.providerServer, dir);
    await r.provider.query('UPDATE b SET v = 3 WHERE id BETWEEN 21 AND 30');
    await forceTick(r.provider, 'repl');
    r.worker = new SubscriptionWorker({ ...WORKER, provider: r.providerUrl, subscriber: r.subscriberUrl }).start();
    let error = '';
    await waitFor('the catch-up to stop on the provider\'s other history', async () => {
      error = (await getStatus(r.subscriber, 'leaf1')).tables[0]?.lastError ?? '';
      return /restored from a backup/.test(error);
    }, 120_000);
    expect(error).toMatch(/^the catch-up of public\.b \(subscription "leaf1"\) applied tick \d+ \(made .*\), but its provider has no tick \d+/);
    expect(await tableJson(r.subscriber, 'b')).toBe(before); // nothing of the provider's new history applied

    // The remedy: copy the table again; it follows the provider's history.
    await r.subscriber.query('UPDATE public.test_gate SET hold = false');
    await resyncTable(r.subscriber, { subscription: 'leaf1', table: 'b' });
    await waitFor('the table copied again and handed over', async () => (await getStatus(r.subscriber, 'leaf1')).tables[0]?.state === 'ok', 120_000);
    await r.provider.query('UPDATE b SET v = 4 WHERE id BETWEEN 31 AND 40');
    await waitForApplied(r);
    expect(await tableJson(r.subscriber, 'b')).toBe(await tableJson(r.provider, 'b'));
  });
});
