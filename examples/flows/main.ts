/**
 * Flow records from many collectors into time-partitioned tables: `pnpm example:flows`.
 * Three collector sites (each its own embedded PostgreSQL server, as each site has its own
 * database) record network flows into a `flows` table: a root each, with its own queue. A
 * reporting database takes all of them into one `flows` table partitioned by hour, through
 * the replicator's `partition` handler: a leaf per collector, each row marked with its
 * collector's leaf in the merge column `source`, partitions created as the hours arrive.
 *
 * Each collector has 12 hours of flows when replication starts (the initial copy lands them
 * in their hours' partitions) and goes on recording 6 more hours of simulated time from two
 * connections at once, one transaction in eight rolled back. Once the reporting database has
 * caught up, the example checks that it holds every collector's flows exactly (count, packets
 * and bytes per collector and per hour, against the collector's own), none of the rolled-back
 * ones, each in the partition of its hour, and exactly the partitions those hours imply (none
 * for the hour only a rolled-back transaction wrote); it prints the partitions and exits 0
 * only if all of that holds.
 *
 * The same from a shell, for each collector site C (ams, fra, nyc):
 *   psql $C -f examples/flows/collector.sql
 *   pgferry replicate create-root --provider $C --node C-root --queue flows
 *   pgferry replicate create-leaf --provider $C --subscriber $REPORTING --node C
 *   pgferry replicate add-table   --provider $C --subscriber $REPORTING --node C flows \
 *       --key collector,id,ts --merge-column source \
 *       --handler partition --handler-arg column=ts --handler-arg period=hour \
 *       --create        (the first collector only: it creates reporting's flows, PARTITION BY RANGE (ts))
 * and one worker for the three leaves: `pgferry replicate worker --config replicate.json`.
 * The key has ts in it because a table partitioned by ts must have it in its primary key;
 * keys must be unique across the collectors (a key another collector holds stops the stream:
 * MergeCollisionError), hence (collector, id) rather than the collector's id alone.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, getStatus, listTables } from '@pgferry/replicator';
import { log, runMain } from '../lib/log.js';

const COLLECTORS = ['ams', 'fra', 'nyc'];
const START = new Date('2026-11-30T06:00:00Z');
const HISTORY_HOURS = 12;
const HISTORY_FLOWS = 12_000;
const LIVE_HOURS = 6;
/** Live transactions per collector, from WRITERS connections at once; every ROLLBACK_EVERY-th is rolled back. */
const TRANSACTIONS = 160;
const WRITERS = 2;
const ROLLBACK_EVERY = 8;
/** A rolled-back transaction two days ahead: its hour must get no partition. */
const ROLLED_BACK_HOUR = new Date(START.getTime() + 48 * 3600_000);
const CATCH_UP_TIMEOUT_MS = 90_000;

const query = (name: string) => readFileSync(new URL(`./${name}.sql`, import.meta.url), 'utf8');
const SQL = {
  collector: query('collector'),
  history: query('history'),
  live: query('live'),
  collectorSummary: query('collector-summary'),
  reportingSummary: query('reporting-summary'),
  reportingChecks: query('reporting-checks'),
  foundIds: query('found-ids'),
};

interface HourRow {
  partition: string;
  flows: string;
  packets: string;
  bytes: string;
}

interface Collector {
  name: string;
  url: string;
  db: pg.Pool;
  rolledBack: string[];
}

/** Live flows of `c`: TRANSACTIONS transactions over LIVE_HOURS of simulated time, from WRITERS connections. */
async function record(c: Collector): Promise<void> {
  let next = 0;
  const writer = async () => {
    for (let i = next++; i < TRANSACTIONS; i = next++) {
      const at = new Date(START.getTime() + (HISTORY_HOURS + (LIVE_HOURS * i) / TRANSACTIONS) * 3600_000);
      const client = await c.db.connect();
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string }>(SQL.live, [c.name, 10 + (i % 30), at.toISOString(), i * 1000]);
        if (i % ROLLBACK_EVERY === ROLLBACK_EVERY - 1) {
          await client.query('ROLLBACK');
          c.rolledBack.push(...rows.map((r) => r.id));
        } else {
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  const client = await c.db.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: string }>(SQL.live, [c.name, 5, ROLLED_BACK_HOUR.toISOString(), 0]);
    c.rolledBack.push(...rows.map((r) => r.id));
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
}

const summary = async (db: pg.Pool, text: string, params: unknown[] = []) => (await db.query<HourRow>(text, params)).rows;
const same = (a: HourRow[], b: HourRow[]) => JSON.stringify(a) === JSON.stringify(b);
const sum = (rows: HourRow[], k: 'flows' | 'bytes') => rows.reduce((s, r) => s + BigInt(r[k]), 0n);

runMain(async () => {
  const started = Date.now();
  log(`starting ${COLLECTORS.length + 1} embedded PostgreSQL servers (collectors ${COLLECTORS.join(', ')}; reporting) ...`);
  const names = [...COLLECTORS, 'reporting'];
  const servers = await Promise.all(names.map((name) => PgServer.start({ name: `pgferry-example-flows-${name}` })));
  const serversUp = Date.now();
  let worker: ReplicationWorker | undefined;
  const pools: pg.Pool[] = [];
  try {
    const urls = await Promise.all(names.map((name, i) => servers[i]!.createDatabase(name)));
    pools.push(...urls.map((url) => new pg.Pool({ connectionString: url, max: WRITERS + 2 }).on('error', () => undefined)));
    const reporting = pools[COLLECTORS.length]!;
    const collectors: Collector[] = COLLECTORS.map((name, i) => ({ name, url: urls[i]!, db: pools[i]!, rolledBack: [] }));

    // Each site on its own server: set up side by side.
    await Promise.all(collectors.map(async (c) => {
      await c.db.query(SQL.collector);
      await c.db.query(SQL.history, [c.name, HISTORY_FLOWS, START.toISOString(), HISTORY_HOURS]);
      await createRootNode(c.db, { node: `${c.name}-root`, queue: 'flows' });
      await createLeafNode(c.db, reporting, { node: c.name });
    }));
    for (const [i, c] of collectors.entries()) {
      await addTable(c.db, reporting, {
        subscription: c.name,
        table: 'flows',
        keyColumns: ['collector', 'id', 'ts'],
        mergeColumn: 'source',
        handler: 'partition',
        handlerArgs: { column: 'ts', period: 'hour' },
        create: i === 0, // the first creates reporting's flows (PARTITION BY RANGE (ts)); the others merge into it
      });
      log(`${c.name}: ${HISTORY_FLOWS} flows over ${HISTORY_HOURS} h; root with queue "flows", leaf "${c.name}" on reporting, flows added (partition by hour, merge column source)`);
    }
    worker = new ReplicationWorker({
      subscriptions: collectors.map((c) => ({
        subscription: c.name, provider: c.url, subscriber: urls[COLLECTORS.length]!, pollIntervalMs: 50,
        log: (level: string, message: string) => level !== 'info' && log(`worker ${level}: ${message}`),
      })),
      tickIntervalMs: 50,
    }).start();

    log(`the collectors record ${LIVE_HOURS} more hours (${TRANSACTIONS} transactions each, ${WRITERS} connections, 1 in ${ROLLBACK_EVERY} rolled back) while their copies run ...`);
    await Promise.all(collectors.map(record));
    const written = Date.now();

    // Caught up: every table handed over, and per collector the same flows, packets and bytes per hour.
    const mine = await Promise.all(collectors.map((c) => summary(c.db, SQL.collectorSummary)));
    const theirs = () => Promise.all(collectors.map((c) => summary(reporting, SQL.reportingSummary, [c.name])));
    for (;;) {
      const ok = (await Promise.all(collectors.map((c) => listTables(reporting, c.name)))).flat().every((t) => t.state === 'ok');
      if (ok && (await theirs()).every((rows, i) => same(rows, mine[i]!))) break;
      if (Date.now() - written > CATCH_UP_TIMEOUT_MS) {
        log(`FAILED: reporting has not caught up ${CATCH_UP_TIMEOUT_MS / 1000} s after the collectors stopped`);
        for (const c of collectors) log(`  ${c.name}: ${JSON.stringify(await getStatus(reporting, c.name, c.db))}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const caughtUpMs = Date.now() - written;

    const failures: string[] = [];
    const check = (ok: boolean, what: string) => {
      if (!ok) failures.push(what);
    };
    const checks = (await reporting.query<{ misplaced: string; mislabelled: string; partitions: string[] }>(SQL.reportingChecks)).rows[0]!;
    const hours = [...new Set(mine.flat().map((r) => r.partition))].sort();
    check(checks.misplaced === '0', `${checks.misplaced} flows outside the partition of their hour`);
    check(checks.mislabelled === '0', `${checks.mislabelled} flows under another collector's source`);
    check(JSON.stringify(checks.partitions) === JSON.stringify(hours), `partitions ${checks.partitions.join(' ')} are not the hours of the flows (${hours.join(' ')})`);
    for (const c of collectors) {
      const found = (await reporting.query<{ found: string }>(SQL.foundIds, [c.name, c.rolledBack])).rows[0]!.found;
      check(found === '0', `${c.name}: ${found} of its ${c.rolledBack.length} rolled-back flows are on reporting`);
      check(c.rolledBack.length > 0, `${c.name}: no transaction was rolled back`);
    }
    // A failed batch is rolled back and retried, so the rows would still come out right; but
    // none should fail here (the collectors' workers meet at every new hour's partition).
    const stats = worker.stats();
    for (const s of stats) check(s.errors === 0, `${s.subscription}: ${s.errors} failed batches or copies (last: ${s.lastError})`);

    // The summary: flows per partition and collector, then per collector.
    const perCollector = await theirs();
    const flowsIn = (i: number, partition: string) => perCollector[i]!.find((r) => r.partition === partition)?.flows ?? '0';
    const pad = (s: string | number, n: number) => String(s).padStart(n);
    log(`reporting.flows, partitioned by hour: ${checks.partitions.length} partitions (flows per collector):`);
    log(`  ${'partition'.padEnd(22)}${COLLECTORS.map((n) => pad(n, 7)).join('')}${pad('total', 8)}`);
    for (const p of checks.partitions) {
      const counts = collectors.map((_, i) => Number(flowsIn(i, p)));
      log(`  ${p.padEnd(22)}${counts.map((n) => pad(n, 7)).join('')}${pad(counts.reduce((a, b) => a + b, 0), 8)}`);
    }
    for (const [i, c] of collectors.entries()) {
      const s = await getStatus(reporting, c.name, c.db);
      log(
        `  ${c.name}: ${sum(perCollector[i]!, 'flows')} flows, ${sum(perCollector[i]!, 'bytes')} bytes (the collector: ${sum(mine[i]!, 'flows')}, ${sum(mine[i]!, 'bytes')}); ` +
          `${c.rolledBack.length} rolled-back flows absent; lag ${s.lagSeconds?.toFixed(1) ?? '?'} s, ${s.eventsApplied} events applied, ${stats[i]!.errors} errors`,
      );
    }
    log(`  caught up ${(caughtUpMs / 1000).toFixed(1)} s after the collectors stopped; no partition for ${ROLLED_BACK_HOUR.toISOString().slice(0, 13)}h (only a rolled-back transaction wrote there)`);
    if (failures.length) {
      for (const f of failures) log(`FAILED: ${f}`);
      return 1;
    }
    log(`every check passed (${((Date.now() - started) / 1000).toFixed(0)} s, ${((serversUp - started) / 1000).toFixed(0)} s of it starting the servers)`);
    return 0;
  } finally {
    await worker?.stop();
    await Promise.allSettled(pools.map((p) => p.end()));
    await Promise.all(servers.map((s) => s.destroy()));
  }
});
