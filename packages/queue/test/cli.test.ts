/**
 * The real `pgferry` binary against real PostgreSQL: queue commands with their tables and
 * --json output, errors, several databases.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Producer, createQueue, registerConsumer } from '../src/index.js';
import { pgferry, pgferryJson } from './cli-helpers.js';

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
