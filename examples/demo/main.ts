/**
 * The pgferry demo (`pnpm demo`): two embedded PostgreSQL servers.
 *  1. Queue: a producer writing orders in its own transactions (some rolled back), the
 *     ticker, and two consumers, checked for exactly-once delivery (./queue.ts).
 *  2. Replication: a sample schema on the first server replicated to the second while it is
 *     being written, with live copy progress and a row-by-row check (../replication/demo.ts),
 *     the worker's web console served meanwhile, and a screenshot of it written to
 *     examples/demo/out/console.png (skipped, saying so, when Chromium is not installed).
 * Exits 0 only when every check passed.
 */
import { PgServer } from '@pgferry/test/pg-server';
import { log, runMain } from '../lib/log.js';
import { replicationDemo } from '../replication/demo.js';
import { queueDemo } from './queue.js';
import { DemoConsole } from './console.js';

runMain(async () => {
  log('starting two embedded PostgreSQL servers (provider, subscriber) ...');
  const [provider, subscriber] = await Promise.all([
    PgServer.start({ name: 'pgferry-demo-provider' }),
    PgServer.start({ name: 'pgferry-demo-subscriber' }),
  ]);
  try {
    log(`PostgreSQL ${provider.major} on ports ${provider.port} and ${subscriber.port}`);
    log('== 1. queue: producers, ticker, two consumers');
    const queue = await queueDemo(await provider.createDatabase('orders'));
    log('== 2. replication: shop (provider) -> shop_replica (subscriber)');
    const replication = await replicationDemo({
      providerUrl: await provider.createDatabase('shop'),
      subscriberUrl: await subscriber.createDatabase('shop_replica'),
      rows: Number(process.env.DEMO_ROWS ?? 1_000_000),
      // The worker's web console, and a screenshot of it during the copy (examples/demo/out/).
      onWorker: async (worker) => {
        const c = await DemoConsole.start(worker);
        return { whileCopying: () => c.screenshot(), close: () => c.close() };
      },
    });
    log(queue === 0 && replication === 0 ? 'demo OK' : 'demo FAILED');
    return queue || replication;
  } finally {
    await Promise.all([provider.destroy(), subscriber.destroy()]);
  }
});
