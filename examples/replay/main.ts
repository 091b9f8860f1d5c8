/**
 * Replay after an incident: `pnpm example:replay`. A shop database replicates its `orders`
 * to a reporting database on another server; the shop's queue keeps two days of events
 * (rotation_period × (ntables − 1)), and the reporting database is backed up at night
 * (here: a cold copy of its data directory). Orders keep coming. Then the incident: the
 * reporting server's data is lost, and last night's backup is put back. The worker finds the
 * restored database behind the shop's position, takes its consumer back to the backup's tick
 * and replays the events since, each once; a compare at the end proves the two equal.
 *
 * The same from a shell:
 *   pgferry queue config orders rotation_period='1 day' ntables=3 --db $SHOP
 *   (restore the reporting database from its backup, start the worker as usual:)
 *   pgferry replicate worker --provider $SHOP --subscriber $REPORTING --node reporting
 *   pgferry replicate compare --provider $SHOP --subscriber $REPORTING --node reporting orders
 * Restored from further back than the queue keeps, the worker stops and says so (copy the
 * tables again: `pgferry replicate resync`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { setQueueConfig } from '@pgferry/queue';
import { ReplicationWorker, addTable, compareTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { log, runMain } from '../lib/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Orders placed, paid and some cancelled, each in its own transaction, for `ms`. */
async function shopTraffic(shop: pg.Pool, ms: number, next: { id: number }): Promise<number> {
  const until = Date.now() + ms;
  let n = 0;
  while (Date.now() < until) {
    const id = ++next.id;
    await shop.query(`INSERT INTO orders (id, customer, amount, status) VALUES ($1, $2, $3, 'placed')`, [id, id % 97, (id % 500) + 0.99]);
    await shop.query(`UPDATE orders SET status = 'paid' WHERE id = $1`, [id - 3]);
    if (id % 7 === 0) await shop.query(`DELETE FROM orders WHERE id = $1`, [id - 5]);
    n++;
  }
  return n;
}

runMain(async () => {
  log('starting two embedded PostgreSQL servers (shop, reporting) ...');
  const [shopServer, reportingServer] = await Promise.all(['shop', 'reporting'].map((name) => PgServer.start({ name: `pgferry-example-${name}` })));
  const shopUrl = await shopServer!.createDatabase('shop');
  const reportingUrl = await reportingServer!.createDatabase('reporting');
  const shop = new pg.Pool({ connectionString: shopUrl }).on('error', () => undefined);
  const reporting = new pg.Pool({ connectionString: reportingUrl }).on('error', () => undefined);
  const backups = await mkdtemp(path.join(tmpdir(), 'pgferry-example-backups-'));
  let worker: ReplicationWorker | undefined;
  try {
    await shop.query(`CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2) NOT NULL,
                                           status text NOT NULL, created timestamptz NOT NULL DEFAULT now())`);
    await shop.query(`INSERT INTO orders (id, customer, amount, status) SELECT g, g % 97, g % 500, 'paid' FROM generate_series(1, 10000) g`);
    await createRootNode(shop, { node: 'shop', queue: 'orders' });
    // Keep at least two days of events, whatever the consumers have read: room to replay.
    await setQueueConfig(shop, 'orders', { rotation_period: '1 day', ntables: 3 });
    await createLeafNode(shop, reporting, { node: 'reporting' });
    await addTable(shop, reporting, { subscription: 'reporting', table: 'orders', create: true });
    worker = new ReplicationWorker({ subscriptions: [{ subscription: 'reporting', provider: shopUrl, subscriber: reportingUrl, pollIntervalMs: 100 }] }).start();
    const next = { id: 10000 };
    await shopTraffic(shop, 2000, next);
    while ((await listTables(reporting, 'reporting'))[0]?.state !== 'ok') await sleep(200);
    log('reporting has copied orders and follows the shop');

    const backup = path.join(backups, 'nightly');
    await reportingServer!.stop();
    execFileSync('cp', ['-a', reportingServer!.dataDir, backup]);
    await reportingServer!.startAgain();
    const count = async (db: pg.Pool) => Number((await db.query('SELECT count(*) AS n FROM orders')).rows[0].n);
    const position = async () => (await reporting.query(`SELECT at_tick_id FROM pgferry.applied_tick WHERE at_subscription = 'reporting'`)).rows[0].at_tick_id as string;
    log(`nightly backup of reporting taken at tick ${await position()}`);

    const placed = await shopTraffic(shop, 4000, next);
    await sleep(1000);
    log(`a day of traffic: ${placed} more orders; reporting is at tick ${await position()}, ${await count(reporting)} orders`);

    log('INCIDENT: the reporting server lost its data; restoring last night\'s backup ...');
    await reportingServer!.stop();
    await rm(reportingServer!.dataDir, { recursive: true, force: true });
    execFileSync('cp', ['-a', backup, reportingServer!.dataDir]);
    await reportingServer!.startAgain();
    const restoredAt = await position();
    log(`restored: reporting is back at tick ${restoredAt}, ${await count(reporting)} orders; the shop has ${await count(shop)}`);

    // The worker reconnects, finds reporting behind the shop's position and replays.
    while (BigInt(await position()) <= BigInt(restoredAt)) await sleep(100);
    log(`the worker found reporting behind the shop and replays from tick ${restoredAt}: now at tick ${await position()}, ${await count(reporting)} orders`);
    await shopTraffic(shop, 1000, next);
    let result;
    for (;;) {
      result = await compareTable(shop, reporting, { subscription: 'reporting', table: 'orders' });
      if (result.equal) break;
      await sleep(500);
    }
    log(`replayed: reporting at tick ${await position()}; compare at tick ${result.tick}: ${result.providerRows} rows on each side, equal`);
    const lastError = worker.stats()[0]?.lastError;
    if (lastError) throw new Error(`the worker reported an error: ${lastError}`);
    return 0;
  } finally {
    await worker?.stop();
    await Promise.allSettled([shop.end(), reporting.end()]);
    await Promise.all([shopServer!.destroy(), reportingServer!.destroy()]);
    await rm(backups, { recursive: true, force: true });
  }
});
