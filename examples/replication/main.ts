/**
 * Two-database replication with pgferry: a root (provider) and a leaf (subscriber).
 *
 *   tsx --conditions=source examples/replication/main.ts
 *
 * Uses PROVIDER_URL and SUBSCRIBER_URL when set; otherwise starts two embedded PostgreSQL
 * servers. It creates a table with 200,000 rows on the provider, sets up the nodes, adds
 * the table (created on the subscriber from the provider's definition), and runs the
 * worker while a writer keeps changing the provider: the table is copied (progress shown),
 * catches up, and is handed to the main stream. Then the writer stops and both sides are
 * compared row by row.
 *
 * The same steps from a shell:
 *   pgferry-replicate create-root --provider $P --node root
 *   pgferry-replicate create-leaf --provider $P --subscriber $S --node leaf1
 *   pgferry-replicate add-table   --provider $P --subscriber $S --node leaf1 accounts --create
 *   pgferry-replicate worker      --provider $P --subscriber $S --node leaf1
 *   pgferry-replicate status      --provider $P --subscriber $S --node leaf1 [--json]
 */
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { setQueueConfig } from '@pgferry/queue';
import {
  ReplicationWorker,
  addTable,
  createLeafNode,
  createRootNode,
  formatStatus,
  getStatus,
} from '../../packages/replicator/src/index.js';

const ROWS = Number(process.env.ROWS ?? 200_000);

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)}  ${line}\n`);
}

async function rowsJson(db: pg.Pool): Promise<string> {
  const { rows } = await db.query<{ j: string }>(`SELECT coalesce(json_agg(a ORDER BY id)::text, '[]') AS j FROM accounts a`);
  return rows[0]!.j;
}

async function main(): Promise<number> {
  const servers: PgServer[] = [];
  let providerUrl = process.env.PROVIDER_URL;
  let subscriberUrl = process.env.SUBSCRIBER_URL;
  if (!providerUrl || !subscriberUrl) {
    log('starting two embedded PostgreSQL servers ...');
    servers.push(await PgServer.start({ name: 'pgferry-example-provider' }), await PgServer.start({ name: 'pgferry-example-subscriber' }));
    providerUrl = await servers[0]!.createDatabase('shop');
    subscriberUrl = await servers[1]!.createDatabase('shop_replica');
  }
  const provider = new pg.Pool({ connectionString: providerUrl, max: 4 });
  const subscriber = new pg.Pool({ connectionString: subscriberUrl, max: 4 });
  provider.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  let worker: ReplicationWorker | undefined;
  try {
    await provider.query(`CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY, owner text NOT NULL,
                            balance numeric(14,2) NOT NULL DEFAULT 0, updated timestamptz NOT NULL DEFAULT now())`);
    await provider.query(`INSERT INTO accounts (id, owner, balance)
                          SELECT g, 'owner ' || g, g % 1000 FROM generate_series(1, $1) g ON CONFLICT DO NOTHING`, [ROWS]);
    log(`provider: accounts has ${ROWS} rows`);

    await createRootNode(provider, { node: 'root', queue: 'replication' });
    // Tick at most 200 ms after a change (the default waits up to 3 s): lower latency.
    await setQueueConfig(provider, 'replication', { ticker_max_lag: 200 });
    await createLeafNode(provider, subscriber, { node: 'leaf1' });
    worker = new ReplicationWorker({
      subscriptions: [{ subscription: 'leaf1', provider: providerUrl, subscriber: subscriberUrl, log: (l, m) => log(`${l}: ${m}`) }],
    }).start();

    // A writer: transfers between accounts, new accounts, closed accounts, some rolled back.
    let writing = true;
    let commits = 0;
    let next = ROWS;
    const writer = (async () => {
      while (writing) {
        const c = await provider.connect();
        try {
          await c.query('BEGIN');
          const a = 1 + Math.floor(Math.random() * ROWS);
          const b = 1 + Math.floor(Math.random() * ROWS);
          await c.query('UPDATE accounts SET balance = balance - 10, updated = now() WHERE id = $1', [a]);
          await c.query('UPDATE accounts SET balance = balance + 10, updated = now() WHERE id = $1', [b]);
          if (Math.random() < 0.3) await c.query(`INSERT INTO accounts (id, owner) VALUES ($1, 'new')`, [++next]);
          if (Math.random() < 0.1) await c.query('DELETE FROM accounts WHERE id = $1', [a]);
          await c.query(Math.random() < 0.1 ? 'ROLLBACK' : 'COMMIT');
          commits++;
        } catch {
          await c.query('ROLLBACK').catch(() => undefined);
        } finally {
          c.release();
        }
      }
    })();

    await addTable(provider, subscriber, { subscription: 'leaf1', table: 'accounts', create: true });
    log('added accounts to leaf1: copy, catch-up, hand-off ...');
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const st = await getStatus(subscriber, 'leaf1', provider);
      log(formatStatus(st).replace(/\n/g, '\n              '));
      if (st.tables.every((t) => t.state === 'ok')) break;
    }
    await new Promise((r) => setTimeout(r, 2000));
    writing = false;
    await writer;
    log(`writer stopped after ${commits} transactions; waiting for the subscriber ...`);
    const expected = await rowsJson(provider);
    const deadline = Date.now() + 60_000;
    while ((await rowsJson(subscriber)) !== expected) {
      if (Date.now() > deadline) {
        log('FAILED: the subscriber does not match the provider');
        return 1;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const count = await subscriber.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts');
    log(`OK: accounts identical on both sides (${count.rows[0]!.n} rows)`);
    return 0;
  } finally {
    await worker?.stop();
    await provider.end();
    await subscriber.end();
    for (const s of servers) await s.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
