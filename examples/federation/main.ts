/**
 * Federation: `pnpm example:federation`. Three shard databases (embedded PostgreSQL servers),
 * each a root with its own queue, are merged into one `orders` table of a reporting
 * database: one leaf per shard, each with its own position, copy and lag, each row marked
 * with its shard in the column `shard`. The shards write while the copies run; once the
 * reporting database has caught up, the merged counts per shard are printed and compared
 * with the shards' own.
 *
 * The same from a shell, per shard N:
 *   pgferry replicate create-root --provider $SHARD_N --node shardN-root
 *   pgferry replicate create-leaf --provider $SHARD_N --subscriber $REPORTING --node shardN
 *   pgferry replicate add-table   --provider $SHARD_N --subscriber $REPORTING --node shardN orders --create --merge-column shard
 * and one worker for the three leaves: `pgferry replicate worker --config replicate.json`.
 */
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { log, runMain } from '../lib/log.js';

const SHARDS = ['shard1', 'shard2', 'shard3'];
const ROWS = 20_000;
const TRANSACTIONS = 300;

/** Inserts, updates and deletes of the shard's own keys (id % 10 = its number), some rolled back. */
async function write(db: pg.Pool, no: number): Promise<void> {
  for (let i = 0; i < TRANSACTIONS; i++) {
    const c = await db.connect();
    try {
      await c.query('BEGIN');
      await c.query(`INSERT INTO orders (id, customer, amount) VALUES ($1, $2, $3)`, [(ROWS + 1 + i) * 10 + no, i % 50, i]);
      await c.query(`UPDATE orders SET amount = amount + 1 WHERE id = $1`, [(1 + ((i * 7) % ROWS)) * 10 + no]);
      if (i % 2 === 0) await c.query(`DELETE FROM orders WHERE id = $1`, [(1 + ((i * 13) % ROWS)) * 10 + no]);
      await c.query(i % 10 === 0 ? 'ROLLBACK' : 'COMMIT');
    } finally {
      c.release();
    }
  }
}

runMain(async () => {
  log('starting four embedded PostgreSQL servers (three shards, one reporting) ...');
  const servers = await Promise.all([...SHARDS, 'reporting'].map((name) => PgServer.start({ name: `pgferry-example-${name}` })));
  const urls = await Promise.all([...SHARDS, 'reporting'].map((name, i) => servers[i]!.createDatabase(name)));
  const pools = urls.map((url) => new pg.Pool({ connectionString: url }).on('error', () => undefined));
  const shards = pools.slice(0, 3);
  const reporting = pools[3]!;
  let worker: ReplicationWorker | undefined;
  try {
    for (const [i, name] of SHARDS.entries()) {
      const db = shards[i]!;
      await db.query(`CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2) NOT NULL,
                                           created timestamptz NOT NULL DEFAULT now())`);
      await db.query(`INSERT INTO orders (id, customer, amount) SELECT g * 10 + $1, g % 50, g % 100 FROM generate_series(1, $2::int) g`, [i + 1, ROWS]);
      await createRootNode(db, { node: `${name}-root`, queue: 'orders' });
      await createLeafNode(db, reporting, { node: name });
      // The first creates reporting's orders with the column `shard`; the others share it.
      await addTable(db, reporting, { subscription: name, table: 'orders', create: i === 0, mergeColumn: 'shard' });
      log(`${name}: root with queue "orders", leaf "${name}" on reporting, orders added (merge column shard)`);
    }
    worker = new ReplicationWorker({
      subscriptions: SHARDS.map((name, i) => ({ subscription: name, provider: urls[i]!, subscriber: urls[3]!, pollIntervalMs: 100 })),
    }).start();
    log(`the shards write ${TRANSACTIONS} transactions each while their copies run ...`);
    await Promise.all(shards.map((db, i) => write(db, i + 1)));

    const count = async (db: pg.Pool, where = '') => Number((await db.query(`SELECT count(*) AS n FROM orders ${where}`)).rows[0].n);
    const amount = async (db: pg.Pool, where = '') => (await db.query(`SELECT sum(amount) AS s FROM orders ${where}`)).rows[0].s as string;
    for (;;) {
      const ok = (await Promise.all(SHARDS.map((name) => listTables(reporting, name)))).flat().every((t) => t.state === 'ok');
      const equal = await Promise.all(shards.map(async (db, i) => {
        const mine = `WHERE shard = '${SHARDS[i]}'`;
        return (await count(db)) === (await count(reporting, mine)) && (await amount(db)) === (await amount(reporting, mine));
      }));
      if (ok && equal.every(Boolean)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const merged = await reporting.query<{ shard: string; orders: string; amount: string }>(
      `SELECT shard, count(*) AS orders, sum(amount) AS amount FROM orders GROUP BY shard ORDER BY shard`,
    );
    log('reporting.orders, merged:');
    for (const [i, r] of merged.rows.entries()) {
      log(`  ${r.shard}: ${r.orders} orders, amount ${r.amount} (the shard itself: ${await count(shards[i]!)} orders, amount ${await amount(shards[i]!)})`);
    }
    log(`  total: ${await count(reporting)} orders (the shards hold ${(await Promise.all(shards.map((db) => count(db)))).reduce((a, b) => a + b, 0)})`);
    return 0;
  } finally {
    await worker?.stop();
    await Promise.allSettled(pools.map((p) => p.end()));
    await Promise.all(servers.map((s) => s.destroy()));
  }
});
