/**
 * The replication half of the demo: a root (provider) and a leaf (subscriber) database,
 * usually on two servers. A sample schema (customers, accounts, transfers) is filled on the
 * provider; the tables are added to the leaf (created there from the provider's
 * definitions) while a writer keeps changing the provider: transfers between accounts, new
 * customers, closed accounts, some transactions rolled back. The worker copies the tables
 * in parallel (progress shown), catches up, and hands them to the main stream. Then the
 * writer stops and every table is compared row by row on both sides.
 *
 * The same steps from a shell:
 *   pgferry replicate create-root --provider $P --node root
 *   pgferry replicate create-leaf --provider $P --subscriber $S --node leaf1
 *   pgferry replicate add-table   --provider $P --subscriber $S --node leaf1 customers --create
 *   pgferry replicate worker      --provider $P --subscriber $S --node leaf1
 *   pgferry replicate status      --provider $P --subscriber $S --node leaf1 [--json]
 */
import pg from 'pg';
import { setQueueConfig } from '@pgferry/queue';
import {
  ReplicationWorker,
  addTable,
  createLeafNode,
  createRootNode,
  formatStatus,
  getStatus,
  waitForProvider,
} from '@pgferry/replicator';
import { log } from '../lib/log.js';

export interface ReplicationDemoOptions {
  providerUrl: string;
  subscriberUrl: string;
  /** Rows in accounts (customers: a quarter, transfers: half). */
  rows?: number;
  /**
   * Called once the worker runs; may return a hook called once while a table is being
   * copied (the demo's console and its screenshot) and a cleanup.
   */
  onWorker?: (worker: ReplicationWorker) => Promise<{ whileCopying(): Promise<unknown>; close(): Promise<void> }>;
}

const SCHEMA = [
  `CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text,
                           tags text[], profile jsonb, created timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE accounts (id bigint PRIMARY KEY, customer_id bigint NOT NULL,
                          balance numeric(14,2) NOT NULL DEFAULT 0, updated timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE transfers (id bigserial PRIMARY KEY, from_account bigint NOT NULL, to_account bigint NOT NULL,
                           amount numeric(14,2) NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
];
const TABLES = ['customers', 'accounts', 'transfers'];

async function fill(provider: pg.Pool, rows: number): Promise<void> {
  for (const ddl of SCHEMA) await provider.query(ddl);
  await provider.query(
    `INSERT INTO customers (id, name, email, tags, profile)
     SELECT g, 'customer ' || g, CASE WHEN g % 5 <> 0 THEN 'c' || g || '@example.com' END,
            ARRAY['t' || g % 3, 'x'], jsonb_build_object('tier', g % 4, 'since', 2000 + g % 25)
       FROM generate_series(1, $1::bigint) g`,
    [Math.ceil(rows / 4)],
  );
  await provider.query(
    `INSERT INTO accounts (id, customer_id, balance) SELECT g, 1 + g % $2::bigint, g % 1000 FROM generate_series(1, $1::bigint) g`,
    [rows, Math.ceil(rows / 4)],
  );
  await provider.query(
    `INSERT INTO transfers (from_account, to_account, amount)
     SELECT 1 + g % $1::bigint, 1 + (g * 7) % $1::bigint, g % 50 FROM generate_series(1, $2::bigint) g`,
    [rows, Math.ceil(rows / 2)],
  );
}

/** Transfers, new customers and closed accounts, about one transaction in ten rolled back. */
function startWriter(provider: pg.Pool, rows: number): { stop: () => Promise<{ commits: number; rollbacks: number }> } {
  let writing = true;
  let commits = 0;
  let rollbacks = 0;
  let nextCustomer = Math.ceil(rows / 4);
  const done = (async () => {
    while (writing) {
      const c = await provider.connect();
      try {
        await c.query('BEGIN');
        const a = 1 + Math.floor(Math.random() * rows);
        const b = 1 + Math.floor(Math.random() * rows);
        await c.query('UPDATE accounts SET balance = balance - 10, updated = now() WHERE id = $1', [a]);
        await c.query('UPDATE accounts SET balance = balance + 10, updated = now() WHERE id = $1', [b]);
        await c.query('INSERT INTO transfers (from_account, to_account, amount) VALUES ($1, $2, 10)', [a, b]);
        if (Math.random() < 0.2) {
          await c.query(`INSERT INTO customers (id, name, tags) VALUES ($1, 'new customer', '{new}')`, [++nextCustomer]);
        }
        if (Math.random() < 0.05) await c.query('DELETE FROM accounts WHERE id = $1', [a]);
        if (Math.random() < 0.05) await c.query(`UPDATE customers SET profile = profile || '{"vip": true}' WHERE id = $1`, [b % nextCustomer + 1]);
        if (Math.random() < 0.1) {
          await c.query('ROLLBACK');
          rollbacks++;
        } else {
          await c.query('COMMIT');
          commits++;
        }
      } catch {
        await c.query('ROLLBACK').catch(() => undefined);
      } finally {
        c.release();
      }
    }
  })();
  return {
    stop: async () => {
      writing = false;
      await done;
      return { commits, rollbacks };
    },
  };
}

/**
 * Both sides' rows of a table compared one by one, in key order, a slice of keys at a time
 * (bounded memory): a row that differs, or exists on one side only, counts once.
 */
async function compareTable(provider: pg.Pool, subscriber: pg.Pool, table: string): Promise<{ rows: number; differing: number }> {
  const SLICE = 50_000;
  const MAX = '9223372036854775807';
  const slice = async (db: pg.Pool, after: string, upTo: string, limit: number | null) =>
    (
      await db.query<{ id: string; r: string }>(
        `SELECT t.id::text AS id, t::text AS r FROM ${table} t WHERE t.id > $1 AND t.id <= $2 ORDER BY t.id LIMIT $3`,
        [after, upTo, limit],
      )
    ).rows;
  let rows = 0;
  let differing = 0;
  let after = '-9223372036854775808';
  for (;;) {
    const a = await slice(provider, after, MAX, SLICE);
    const upTo = a.length === SLICE ? a[a.length - 1]!.id : MAX; // the last slice: everything left
    const b = new Map((await slice(subscriber, after, upTo, null)).map((x) => [x.id, x.r]));
    for (const { id, r } of a) {
      if (b.get(id) !== r) differing++;
      b.delete(id);
    }
    rows += a.length;
    differing += b.size;
    if (upTo === MAX) return { rows, differing };
    after = upTo;
  }
}

/** Run the replication demo; resolves to 0 when both sides are identical, 1 otherwise. */
export async function replicationDemo(opts: ReplicationDemoOptions): Promise<number> {
  const rows = opts.rows ?? 1_000_000;
  const provider = new pg.Pool({ connectionString: opts.providerUrl, max: 4 });
  const subscriber = new pg.Pool({ connectionString: opts.subscriberUrl, max: 4 });
  provider.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  let worker: ReplicationWorker | undefined;
  let extra: { whileCopying(): Promise<unknown>; close(): Promise<void> } | undefined;
  try {
    await fill(provider, rows);
    log(`provider: customers ${Math.ceil(rows / 4)}, accounts ${rows}, transfers ${Math.ceil(rows / 2)} rows`);

    await createRootNode(provider, { node: 'root', queue: 'replication' });
    // Tick at most 200 ms after a change (the default waits up to 3 s): lower latency.
    await setQueueConfig(provider, 'replication', { ticker_max_lag: 200 });
    // Its location lets `status --cascade` (and the console) walk from the root to it.
    await createLeafNode(provider, subscriber, { node: 'leaf1', location: opts.subscriberUrl });
    log('nodes: root on the provider, leaf1 on the subscriber; the writer starts');
    const writer = startWriter(provider, rows);
    worker = new ReplicationWorker({
      subscriptions: [{ subscription: 'leaf1', provider: opts.providerUrl, subscriber: opts.subscriberUrl, parallelCopies: 2, log: (l, m) => log(`${l}: ${m}`) }],
    }).start();
    extra = await opts.onWorker?.(worker);
    let shot = false;

    for (const table of TABLES) await addTable(provider, subscriber, { subscription: 'leaf1', table, create: true });
    log(`added ${TABLES.join(', ')} to leaf1: copy (2 at a time), catch-up, hand-off ...`);
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const st = await getStatus(subscriber, 'leaf1', provider);
      log(formatStatus(st).replace(/\n/g, '\n              '));
      if (extra && !shot && st.tables.some((t) => t.state === 'in-copy' && (t.copy?.rows ?? 0) > 0)) {
        shot = true;
        await extra.whileCopying().catch((err: unknown) => log(`console screenshot failed: ${(err as Error).message}`));
      }
      if (st.tables.every((t) => t.state === 'ok')) break;
    }
    await new Promise((r) => setTimeout(r, 2000));
    const { commits, rollbacks } = await writer.stop();
    log(`writer stopped: ${commits} transactions committed, ${rollbacks} rolled back; waiting for the subscriber ...`);

    // Everything committed before this call, applied (pgferry replicate wait-provider).
    const waited = await waitForProvider(provider, subscriber, 'leaf1', { timeoutMs: 120_000 });
    log(`subscriber applied tick ${waited.appliedTick} (${(waited.waitedMs / 1000).toFixed(1)} s)`);
    let failed = 0;
    for (const table of TABLES) {
      const r = await compareTable(provider, subscriber, table);
      log(`${r.differing === 0 ? 'identical' : 'DIFFERENT'}: ${table}, ${r.rows} rows compared one by one${r.differing ? `, ${r.differing} differ` : ''}`);
      if (r.differing) failed++;
    }
    if (failed) {
      log(`FAILED: ${failed} table(s) differ between provider and subscriber`);
      return 1;
    }
    log('OK: every replicated table is identical on both sides');
    return 0;
  } finally {
    await extra?.close();
    await worker?.stop();
    await provider.end();
    await subscriber.end();
  }
}
