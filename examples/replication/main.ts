/**
 * Replication alone: `tsx --conditions=source examples/replication/main.ts`. Uses
 * PROVIDER_URL and SUBSCRIBER_URL when set (empty databases), otherwise starts two embedded
 * PostgreSQL servers. See ./demo.ts for what it does.
 */
import { PgServer } from '@pgferry/test/pg-server';
import { log, runMain } from '../lib/log.js';
import { replicationDemo } from './demo.js';

runMain(async () => {
  const rows = Number(process.env.ROWS ?? 1_000_000);
  if (process.env.PROVIDER_URL && process.env.SUBSCRIBER_URL) {
    return replicationDemo({ providerUrl: process.env.PROVIDER_URL, subscriberUrl: process.env.SUBSCRIBER_URL, rows });
  }
  log('starting two embedded PostgreSQL servers ...');
  const servers = await Promise.all([
    PgServer.start({ name: 'pgferry-example-provider' }),
    PgServer.start({ name: 'pgferry-example-subscriber' }),
  ]);
  try {
    return await replicationDemo({
      providerUrl: await servers[0].createDatabase('shop'),
      subscriberUrl: await servers[1].createDatabase('shop_replica'),
      rows,
    });
  } finally {
    await Promise.all(servers.map((s) => s.destroy()));
  }
});
