/**
 * The real `pgferry` binary against real PostgreSQL: install/version, connection and
 * usage errors, queue commands with their tables and --json output, several databases.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { freePort } from '@pgferry/test/pg-server';
import { Producer, createQueue, installedVersion, registerConsumer } from '../src/index.js';
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
    const removed = await pgferryJson<{ uninstalled: boolean }>(['uninstall', '--yes', '--db', db.url]);
    expect(removed.uninstalled).toBe(true);
    expect(await installedVersion(db.pool)).toBeNull();
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

describe('pgferry CLI: queues', () => {
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

    await registerConsumer(dbB.pool, 'clicks', 'counter');
    const refused = await pgferry(['queue', 'drop', 'clicks', '--db', dbB.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('pgferry: queue "clicks" still has consumers: counter: unregister them first, or add --force\n');
    const dropped = await pgferry(['queue', 'drop', 'clicks', '--force', '--db', dbB.url]);
    expect(dropped).toMatchObject({ code: 0, stdout: 'queue "clicks" dropped\n' });
    const none = await pgferry(['queue', 'list', '--db', dbB.url]);
    expect(none.stdout).toContain('(no queues)');
  });
});
