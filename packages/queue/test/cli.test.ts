/**
 * The real `pgferry` binary against real PostgreSQL: install/version, queue and consumer
 * commands, their tables and --json output, error exits and messages.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { freePort } from '@pgferry/test/pg-server';
import {
  Producer,
  createQueue,
  finishBatch,
  forceTick,
  getConsumerInfo,
  listTicks,
  nextBatch,
  registerConsumer,
  runMaintenance,
  setQueueConfig,
  withClient,
} from '../src/index.js';
import { pgferry, pgferryJson } from './cli-helpers.js';

describe('pgferry CLI: install and connection errors', () => {
  const db = useTestDatabase({ install: false });

  it('says how to install when pgferry is missing, installs, and reports versions', async () => {
    const missing = await pgferry(['queue', 'list', '--db', db.url]);
    expect(missing.code).toBe(4);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('not installed');
    expect(missing.stderr).toContain('pgferry install');

    const upgrade = await pgferry(['upgrade', '--db', db.url]);
    expect(upgrade.code).toBe(4);
    expect(upgrade.stderr).toContain('pgferry install');

    // The connection may also come from PGFERRY_DB.
    const inst = await pgferry(['install'], { PGFERRY_DB: db.url });
    expect(inst.code).toBe(0);
    expect(inst.stdout).toMatch(/^pgferry \d+\.\d+\.\d+ installed \(migrations applied: 1/);

    const version = await pgferryJson<{ installed: string; cli: string }>(['version', '--db', db.url]);
    expect(version.installed).toMatch(/^\d+\.\d+\.\d+$/);
    expect(version.cli).toBe(version.installed);

    // ... or from the usual PG* variables.
    const u = new URL(db.url);
    const table = await pgferry(['version'], {
      PGHOST: u.hostname,
      PGPORT: u.port,
      PGUSER: decodeURIComponent(u.username),
      PGDATABASE: db.name,
    });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^CLI\s+INSTALLED$/);
    expect(table.stdout).toContain(version.installed);

    const again = await pgferryJson<{ appliedMigrations: number[] }>(['upgrade', '--db', db.url]);
    expect(again.appliedMigrations).toEqual([]);

    const refused = await pgferry(['uninstall', '--db', db.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
  });

  it('exits 3 with one line when it cannot connect, and 2 on a bad command line', async () => {
    const port = await freePort();
    const down = await pgferry(['queue', 'list', '--db', `postgres://postgres@127.0.0.1:${port}/nowhere`]);
    expect(down.code).toBe(3);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toContain(`cannot connect to 127.0.0.1:${port}/nowhere`);

    const usage = await pgferry(['queue', 'create', '--db', db.url]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'queue'");

    const help = await pgferry(['consumer', 'rewind', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pgferry consumer rewind');
    expect(help.stdout).toContain('Examples:');
  });
});

describe('pgferry CLI: queues and consumers', () => {
  const db = useTestDatabase();
  const dbB = useTestDatabase();

  it('creates, configures, lists and shows queues, as tables and as JSON', async () => {
    const created = await pgferry(['queue', 'create', 'orders', 'ticker_max_lag=2 seconds', 'max_retries=7', '--db', db.url]);
    expect(created).toMatchObject({ code: 0, stdout: 'queue "orders" created\n' });
    expect(await pgferryJson(['queue', 'create', 'orders', '--db', db.url])).toEqual({ queue: 'orders', created: false });

    await new Producer(db.pool, { queue: 'orders' }).insertMany(
      Array.from({ length: 5 }, (_, i) => ({ type: 'created', payload: { id: i } })),
    );

    const list = await pgferry(['queue', 'list', '--db', db.url]);
    expect(list.code).toBe(0);
    const [header, row] = list.stdout.trim().split('\n');
    expect(header).toMatch(/^QUEUE\s+CONSUMERS\s+EVENTS\s+NOT TICKED\s+TICKER LAG/);
    expect(row).toMatch(/^orders\s+0\s+5\s+5\s/);

    const json = await pgferryJson<Record<string, unknown>[]>(['queue', 'list', '--db', db.url]);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ queueName: 'orders', eventSeq: 5, eventsSinceTick: 5, maxRetries: 7, tickerMaxLagSeconds: 2 });

    const config = await pgferry(['queue', 'config', 'orders', 'rotation_period=30 minutes', '--db', db.url]);
    expect(config.code).toBe(0);
    expect(config.stdout).toMatch(/rotation_period:\s+30m00s/);
    expect(config.stdout).toMatch(/max_retries:\s+7/);

    const bad = await pgferry(['queue', 'config', 'orders', 'bogus=1', '--db', db.url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown setting "bogus"');

    const unknown = await pgferry(['queue', 'status', 'nope', '--db', db.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toMatch(/^pgferry: queue "nope" does not exist/);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);

    // Several databases: a DATABASE column, and "database" in JSON.
    await createQueue(dbB.pool, 'clicks');
    const both = await pgferryJson<{ database: string; queueName: string }[]>(['queue', 'list', '--db', db.url, '--db', dbB.url]);
    expect(both.map((r) => [r.database.endsWith(db.name), r.queueName])).toEqual([
      [true, 'orders'],
      [false, 'clicks'],
    ]);
    const bothTable = await pgferry(['queue', 'list', '--db', db.url, '--db', dbB.url]);
    expect(bothTable.stdout).toMatch(/^DATABASE\s+QUEUE/);
    expect(bothTable.stdout).toContain(`/${dbB.name}  clicks`);

    const dropped = await pgferry(['queue', 'drop', 'clicks', '--db', dbB.url]);
    expect(dropped).toMatchObject({ code: 0, stdout: 'queue "clicks" dropped\n' });
    const none = await pgferry(['queue', 'list', '--db', dbB.url]);
    expect(none.stdout).toContain('(no queues)');
  });

  it('registers consumers, shows their lag and pending events, and fails a lag check', async () => {
    await createQueue(db.pool, 'jobs');
    const reg = await pgferry(['consumer', 'register', 'jobs', 'worker', '--db', db.url]);
    expect(reg).toMatchObject({ code: 0, stdout: 'consumer "worker" registered on queue "jobs"\n' });
    await new Producer(db.pool, { queue: 'jobs' }).insertMany(
      Array.from({ length: 4 }, (_, i) => ({ type: 'job', payload: { i } })),
    );
    await forceTick(db.pool, 'jobs');

    const list = await pgferryJson<{ consumerName: string; pendingEvents: number; ticksBehind: number }[]>([
      'consumer', 'list', 'jobs', '--db', db.url,
    ]);
    expect(list).toMatchObject([{ consumerName: 'worker', pendingEvents: 4, ticksBehind: 1 }]);

    const status = await pgferryJson<{ queueName: string; consumerList: { consumerName: string }[] }>([
      'queue', 'status', 'jobs', '--db', db.url,
    ]);
    expect(status.queueName).toBe('jobs');
    expect(status.consumerList.map((c) => c.consumerName)).toEqual(['worker']);

    const lag = await pgferry(['consumer', 'lag', 'jobs', '--max-pending', '2', '--db', db.url]);
    expect(lag.code).toBe(1);
    expect(lag.stdout).toMatch(/^QUEUE\s+CONSUMER\s+LAG\s+LAG \(S\)\s+PENDING\s+TICKS BEHIND\s+STATUS/);
    expect(lag.stdout).toMatch(/jobs\s+worker\s+.*\s4\s+1\s+OVER/);
    expect(lag.stderr).toContain('consumer "worker" on queue "jobs"');
    const ok = await pgferry(['consumer', 'lag', 'jobs', '--max-pending', '10', '--db', db.url]);
    expect(ok.code).toBe(0);

    const unreg = await pgferry(['consumer', 'unregister', 'jobs', 'worker', '--db', db.url]);
    expect(unreg.code).toBe(0);
    const gone = await pgferry(['consumer', 'unregister', 'jobs', 'worker', '--db', db.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('worker');
  });

  it('rewinds a consumer to a tick or a time, and says when the queue no longer holds it', async () => {
    await createQueue(db.pool, 'feed');
    await registerConsumer(db.pool, 'feed', 'reader');
    const producer = new Producer(db.pool, { queue: 'feed' });
    for (let i = 0; i < 3; i++) {
      await producer.insert('e', { i });
      await forceTick(db.pool, 'feed');
    }
    // Consume everything.
    for (;;) {
      const b = await nextBatch(db.pool, 'feed', 'reader');
      if (!b) break;
      await finishBatch(db.pool, b);
    }
    const ticks = await pgferryJson<{ tickId: string; time: string; available: boolean }[]>(['queue', 'ticks', 'feed', '--db', db.url]);
    expect(ticks).toHaveLength(4);
    expect(ticks.every((t) => t.available)).toBe(true);
    // Tick ids are drawn from one sequence for all queues: newest first.
    const [t4, t3, t2, t1] = ticks.map((t) => t.tickId) as [string, string, string, string];

    const toTick = await pgferryJson<{ fromTick: string; toTick: string }>(['consumer', 'rewind', 'feed', 'reader', '--tick', t2, '--db', db.url]);
    expect(toTick).toMatchObject({ fromTick: t4, toTick: t2 });
    expect((await getConsumerInfo(db.pool, 'feed', 'reader'))[0]).toMatchObject({ lastTick: t2, pendingEvents: 2 });

    // A time between tick 3 and tick 4 picks tick 3 (the latest at or before it).
    const between = new Date(new Date(ticks[1]!.time).getTime() + 1);
    const toTime = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--time', between.toISOString(), '--db', db.url]);
    expect(toTime.code).toBe(0);
    expect(toTime.stdout).toContain(`moved from tick ${t2} to tick ${t3}`);

    const before = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--time', '2000-01-01T00:00:00Z', '--db', db.url]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('queue "feed" no longer holds the events after 2000-01-01T00:00:00Z');
    expect(before.stderr).toContain(`the oldest point it can rewind to is tick ${t1}`);

    const future = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--tick', '999999', '--db', db.url]);
    expect(future.code).toBe(1);
    expect(future.stderr).toContain('has no tick 999999');

    // Rotate the event tables until tick 1's events are gone.
    await setQueueConfig(db.pool, 'feed', { rotation_period: 1 });
    for (let i = 0; i < 50 && (await listTicks(db.pool, 'feed', { limit: 1000 })).some((t) => t.tickId === t1 && t.available); i++) {
      await producer.insert('e', { i });
      await forceTick(db.pool, 'feed');
      for (;;) {
        const b = await nextBatch(db.pool, 'feed', 'reader');
        if (!b) break;
        await finishBatch(db.pool, b);
      }
      await withClient(db.pool, (c) => runMaintenance(c));
    }
    const gone = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--tick', t1, '--db', db.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no longer holds the events after tick ${t1}: the oldest point it can rewind to is tick`);
    const oldest = Number(/rewind to is tick (\d+)/.exec(gone.stderr)![1]);
    expect(oldest).toBeGreaterThan(Number(t4));
    // ... and that oldest tick is indeed accepted.
    const okOldest = await pgferry(['consumer', 'rewind', 'feed', 'reader', '--tick', String(oldest), '--db', db.url]);
    expect(okOldest.code).toBe(0);

    const unknownConsumer = await pgferry(['consumer', 'rewind', 'feed', 'nobody', '--tick', t2, '--db', db.url]);
    expect(unknownConsumer.code).toBe(1);
    expect(unknownConsumer.stderr).toContain('consumer "nobody" is not registered on queue "feed"');
  });
});
