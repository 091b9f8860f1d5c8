/**
 * The real `pgferry` binary against real PostgreSQL: queue commands with their tables and
 * --json output, errors, several databases.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Producer, createQueue, getQueueInfo, registerConsumer } from '../src/index.js';
import { pgferry, pgferryJson } from './cli-helpers.js';

describe('pgferry CLI: queues', () => {
  const db = useTestDatabase();
  const dbB = useTestDatabase();

  it('creates, configures, lists and shows queues, as tables and as JSON', { timeout: 180_000 }, async () => {
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

  it('changes nothing when a setting is refused, and names the bounds', async () => {
    await createQueue(db.pool, 'bounded');
    const read = async () => (await getQueueInfo(db.pool, 'bounded'))[0]!;
    const before = await read();
    // The first setting is valid, the second out of its bounds: neither is applied.
    const r = await pgferry(['queue', 'config', 'bounded', 'max_retries=9', 'rotation_period=300000 years', '--db', db.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `pgferry: invalid value for rotation_period of queue "bounded": '300000 years' (Expected an interval from 1 millisecond to 1 year, e.g. '2 hours'.)\n`,
    );
    expect(await read()).toEqual({ ...before, tickerLagSeconds: expect.any(Number), rotationBlocker: expect.anything() });
    // create with a refused setting leaves no queue behind.
    const created = await pgferry(['queue', 'create', 'half', 'ticker_max_count=0', '--db', db.url]);
    expect(created.code).toBe(1);
    expect(created.stderr).toContain('Expected a whole number from 1 to 1000000');
    expect((await getQueueInfo(db.pool)).map((q) => q.queueName)).not.toContain('half');
    // A valid change is applied and read back.
    const ok = await pgferryJson<Record<string, unknown>>(['queue', 'config', 'bounded', 'max_retries=9', 'rotation_period=1 year', '--db', db.url]);
    expect(ok).toMatchObject({ max_retries: 9, rotation_period_seconds: 365.25 * 86400 });
  });

  it('names the session holding a snapshot as what blocks rotation, not a caught-up consumer', async () => {
    await createQueue(db.pool, 'held', { config: { rotation_period: 1 } });
    await registerConsumer(db.pool, 'held', 'c');
    // A REPEATABLE READ session holds its snapshot from before the switch.
    const rr = await db.connect();
    try {
      const pid = (await rr.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await rr.query('SELECT 1');
      expect((await db.pool.query(`SELECT pgferry.maint_rotate_tables_step1('held') AS n`)).rows[0].n).toBe(1);
      expect((await pgferry(['maint', '--db', db.url])).code).toBe(0);
      const table = await pgferry(['queue', 'status', 'held', '--db', db.url]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(new RegExp(`rotation blocked by:\\s+snapshot: pid ${pid}\n`));
      expect(table.stdout).toMatch(new RegExp(`rotation:\\s+session pid ${pid} \\(user \\w+, application '', idle in transaction\\) holds a snapshot from before the last switch`));
      expect(table.stdout).toMatch(new RegExp(`what to do:\\s+End that transaction, or terminate the session: SELECT pg_terminate_backend\\(${pid}\\);`));
      expect(table.stdout).not.toMatch(/blocked by:\s+consumer/);
      const json = await pgferryJson<{ rotationBlockedBy: string; rotationBlocker: Record<string, unknown> }>(['queue', 'status', 'held', '--db', db.url]);
      expect(json).toMatchObject({ rotationBlockedBy: `pid ${pid}`, rotationBlocker: { kind: 'snapshot', pid } });
      const list = await pgferry(['queue', 'list', '--db', db.url]);
      expect(list.stdout).toMatch(new RegExp(`held .*snapshot: pid ${pid}`));
    } finally {
      await rr.end();
    }
    // Once the snapshot is gone and a tick passes the switch, the lagging consumer is named.
    for (let i = 0; i < 300; i++) {
      await db.pool.query(`SELECT pgferry.maint_rotate_tables_step2()`);
      await db.pool.query(`SELECT pgferry.force_tick('held')`);
      if ((await getQueueInfo(db.pool, 'held'))[0]!.rotationBlocker.kind === 'consumer') break;
    }
    const lagging = await pgferry(['queue', 'status', 'held', '--db', db.url]);
    expect(lagging.stdout).toMatch(/rotation blocked by:\s+consumer: c\n/);
    expect(lagging.stdout).toMatch(/what to do:\s+Let it catch up, or cut it loose: pgferry consumer unregister held c/);
  });
});
