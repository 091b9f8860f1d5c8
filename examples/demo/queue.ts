/**
 * The queue half of the demo: an embedded PostgreSQL, pgferry installed, one queue, a producer
 * writing orders in its own transactions (some rolled back), the ticker, and two consumers:
 * "billing" writes an invoice per order in the same transaction that finishes its batch
 * (exactly once), "audit" counts what it sees. At the end both are checked against what
 * the producer committed: nothing lost, nothing doubled, nothing rolled back delivered.
 */
import pg from 'pg';
import { install } from '@pgferry/sql';
import { Consumer, Producer, Ticker, createQueue, getConsumerInfo, registerConsumer } from '@pgferry/queue';

import { log } from '../lib/log.js';

const ORDERS = Number(process.env.DEMO_ORDERS ?? 5000);
const PRODUCERS = 4;

/** Run the queue demo; resolves to 0 when every check passed, 1 otherwise. */
export async function queueDemo(url: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 12 });
  // pool.end() resolves before its sockets are closed: ignore their goodbyes at shutdown.
  let shuttingDown = false;
  pool.on('error', (err) => shuttingDown || log(`idle connection error: ${err.message}`));
  const ticker = new Ticker({ connectionString: url }, { tickIntervalMs: 20, maintIntervalMs: 1000 });
  const billing = new Consumer(pool, { queue: 'orders', name: 'billing' });
  const audit = new Consumer(pool, { queue: 'orders', name: 'audit' });
  try {
    log('installing pgferry ...');
    const { version } = await install(pool);
    await createQueue(pool, 'orders', { config: { ticker_max_lag: 50, ticker_max_count: 200 } });
    await registerConsumer(pool, 'orders', 'billing');
    await registerConsumer(pool, 'orders', 'audit');
    await pool.query(`CREATE TABLE invoice (order_id int PRIMARY KEY, amount numeric NOT NULL)`);
    log(`pgferry ${version}: queue "orders", consumers "billing" and "audit"`);
    ticker.start();

    const stop = new AbortController();
    const audited = new Map<number, number>();
    const consumers = [
      billing.run(
        async (batch) => {
          for await (const ev of batch.events()) {
            const o = ev.payload as { id: number; amount: number };
            await batch.client.query('INSERT INTO invoice (order_id, amount) VALUES ($1, $2)', [o.id, o.amount]);
          }
        },
        { signal: stop.signal },
      ),
      audit.run(
        async (batch) => {
          for await (const ev of batch.events()) {
            const id = (ev.payload as { id: number }).id;
            audited.set(id, (audited.get(id) ?? 0) + 1);
          }
        },
        { signal: stop.signal },
      ),
    ];

    // Producers: each order in its own transaction; about one in ten is rolled back.
    const committed = new Set<number>();
    let rolledBack = 0;
    const producer = new Producer(pool, { queue: 'orders' });
    let next = 0;
    let lastReport: Promise<void> = Promise.resolve();
    const progress = setInterval(() => {
      lastReport = getConsumerInfo(pool, 'orders').then((info) => {
        const lag = info.map((c) => `${c.consumerName} lag ${c.lagSeconds.toFixed(2)}s`).join(', ');
        log(`produced ${committed.size + rolledBack}/${ORDERS} (${rolledBack} rolled back) | billing ${billing.stats.events} events, audit ${audit.stats.events} | ${lag}`);
      });
    }, 500);
    await Promise.all(
      Array.from({ length: PRODUCERS }, async () => {
        const client = await pool.connect();
        try {
          while (next < ORDERS) {
            const id = next++;
            await client.query('BEGIN');
            await producer.insert('order', { id, amount: (id % 97) + 0.5, customer: `c${id % 13}` }, { client });
            if (id % 10 === 7) {
              await client.query('ROLLBACK');
              rolledBack++;
            } else {
              await client.query('COMMIT');
              committed.add(id);
            }
          }
        } finally {
          client.release();
        }
      }),
    );
    log(`producers done: ${committed.size} committed, ${rolledBack} rolled back; waiting for consumers ...`);

    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const invoices = Number((await pool.query('SELECT count(*) AS n FROM invoice')).rows[0].n);
      if (invoices >= committed.size && audited.size >= committed.size) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    clearInterval(progress);
    await lastReport;
    stop.abort();
    await Promise.all(consumers);

    const invoices = (await pool.query<{ order_id: number }>('SELECT order_id FROM invoice')).rows.map((r) => r.order_id);
    const problems: string[] = [];
    const invoiced = new Set(invoices);
    const missing = [...committed].filter((id) => !invoiced.has(id) || audited.get(id) !== 1);
    const phantom = [...invoiced, ...audited.keys()].filter((id) => !committed.has(id));
    const doubled = [...audited.values()].filter((n) => n > 1).length;
    if (missing.length) problems.push(`${missing.length} committed orders not delivered to both consumers`);
    if (phantom.length) problems.push(`${phantom.length} rolled-back orders delivered`);
    if (doubled) problems.push(`${doubled} orders delivered twice to audit`);
    log('totals:');
    log(`  orders committed ${committed.size}, rolled back ${rolledBack}`);
    log(`  billing: ${billing.stats.batches} batches, ${billing.stats.events} events, ${invoices.length} invoices`);
    log(`  audit:   ${audit.stats.batches} batches, ${audit.stats.events} events, ${audited.size} distinct orders`);
    log(`  ticker:  ${ticker.stats.ticks} ticks, leader=${ticker.stats.isLeader}`);
    if (problems.length) {
      log(`FAILED: ${problems.join('; ')}`);
      return 1;
    }
    log('OK: every committed order delivered exactly once to each consumer, no rolled-back order delivered');
    return 0;
  } finally {
    await ticker.stop();
    await billing.close();
    await audit.close();
    shuttingDown = true;
    await pool.end();
  }
}

