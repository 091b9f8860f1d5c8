/**
 * `pgferry daemon` as a child process on its own PostgreSQL server: it ticks queues
 * created after it started, and when the server is killed under it and started again it
 * recovers by itself, saying so in its log and its metrics. SIGTERM stops it cleanly. A queue
 * damaged behind its back is logged and counted, and the other queues go on.
 */
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { install } from '@pgferry/sql';
import { Producer, createQueue, getQueueInfo } from '../src/index.js';
import { DaemonProcess, until } from './daemon-helpers.js';

describe('pgferry daemon: database going away and coming back', () => {
  let server: PgServer;
  let pool: pg.Pool;
  let dir: string;
  let daemon: DaemonProcess | undefined;
  beforeAll(async () => {
    server = await PgServer.start({ name: 'pgferry-daemon' });
    pool = new pg.Pool({ connectionString: server.url(), max: 4 });
    pool.on('error', () => undefined);
    await install(pool);
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-daemon-'));
  });
  afterAll(async () => {
    await daemon?.stop();
    await pool?.end();
    await server?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const lastTick = async (queue: string) => Number((await getQueueInfo(pool, queue))[0]!.lastTickId);

  it('ticks new queues, survives a server crash and recovers by itself', async () => {
    const config = path.join(dir, 'daemon.json');
    await writeFile(
      config,
      JSON.stringify({
        databases: [{ name: 'main', url: server.url() }],
        metrics: { port: 0, host: '127.0.0.1' },
        tickIntervalMs: 20,
        maintIntervalMs: 200,
      }),
    );
    daemon = new DaemonProcess(['--config', config]);
    const d = daemon;
    await d.waitMetrics((m) => m.get('pgferry_ticker_leader{database="main"}') === 1, 'the daemon to lead');
    await d.waitLog(/\[db=main\] ticker leader/, 'the leader log line');

    // A queue created after the daemon started is ticked: its events reach a tick.
    await createQueue(pool, 'late', { config: { ticker_max_lag: 50 } });
    const producer = new Producer(pool, { queue: 'late' });
    await producer.insert('e', { n: 1 });
    await until(() => getQueueInfo(pool, 'late'), ([q]) => q!.eventsSinceTick === 0, 'the daemon to tick "late"');
    const m = await d.waitMetrics((x) => x.get('pgferry_queue_events_total{database="main",queue="late"}') === 1, 'queue metrics');
    expect(m.get('pgferry_database_up{database="main"}')).toBe(1);
    expect(m.get('pgferry_ticker_connected{database="main"}')).toBe(1);
    expect(m.get('pgferry_daemon_databases')).toBe(1);

    // Crash the server under the daemon. (Test servers run with synchronous_commit=off:
    // a checkpoint first, so the crash loses nothing this test made.)
    await pool.query('CHECKPOINT');
    await pool.end();
    await server.kill();
    const down = await d.waitMetrics(
      (x) => x.get('pgferry_ticker_connected{database="main"}') === 0 && x.get('pgferry_database_up{database="main"}') === 0,
      'the daemon to report the database down',
    );
    expect(down.get('pgferry_ticker_leader{database="main"}')).toBe(0);
    expect(down.get('pgferry_ticker_errors_total{database="main"}')).toBeGreaterThan(0);
    await d.waitLog(/\[db=main\] database unavailable: .*retrying with backoff/, 'the outage log line');
    expect(d.child.exitCode).toBeNull();

    // Bring it back: the daemon reconnects, leads again and ticks again, by itself.
    await server.startAgain();
    pool = new pg.Pool({ connectionString: server.url(), max: 4 });
    pool.on('error', () => undefined);
    await d.waitMetrics(
      (x) => x.get('pgferry_ticker_leader{database="main"}') === 1 && x.get('pgferry_database_up{database="main"}') === 1,
      'the daemon to lead again',
    );
    await d.waitLog(/\[db=main\] database is back after \d+\.\d+s/, 'the recovery log line');
    const before = await lastTick('late');
    await new Producer(pool, { queue: 'late' }).insert('e', { n: 2 });
    await until(() => lastTick('late'), (t) => t > before, 'a tick after the restart');
    await d.waitMetrics((x) => x.get('pgferry_queue_events_total{database="main",queue="late"}') === 2, 'metrics after the restart');

    expect(await d.stop()).toBe(0);
    expect(d.log).toContain('SIGTERM: stopping');
    expect(d.log).toContain('pgferry daemon stopped');
  });

  it('logs and counts a broken queue, and goes on ticking and maintaining the others', async () => {
    const config = path.join(dir, 'daemon-broken.json');
    await writeFile(
      config,
      JSON.stringify({
        databases: [{ name: 'main', url: server.url() }],
        metrics: { port: 0, host: '127.0.0.1' },
        tickIntervalMs: 20,
        maintIntervalMs: 100,
      }),
    );
    await createQueue(pool, 'sound', { config: { ticker_max_lag: 20, rotation_period: 1 } });
    await createQueue(pool, 'broken', { config: { ticker_max_lag: 20 } });
    // Damaged behind pgferry's back (a superuser can): every tick and rotation of it fails.
    const { rows } = await pool.query(`SELECT queue_event_seq::text AS seq FROM pgferry.queue WHERE queue_name = 'broken'`);
    await pool.query(`DROP SEQUENCE ${rows[0].seq}`);
    await pool.query(`ALTER TABLE pgferry.queue DROP CONSTRAINT queue_rotation_period_range`);
    await pool.query(`UPDATE pgferry.queue SET queue_rotation_period = '300000 years' WHERE queue_name = 'broken'`);
    daemon = new DaemonProcess(['--config', config]);
    const d = daemon;
    await d.waitLog(/\[db=main\] tick failed for queue "broken": queue "broken" is damaged: .*; the other queues go on/, 'the failure log line');
    await d.waitLog(/\[db=main\] maint_rotate_tables_step1 failed for queue "broken": timestamp out of range/, 'the maintenance failure log line');
    const before = await lastTick('sound');
    await new Producer(pool, { queue: 'sound' }).insert('e', { n: 1 });
    await until(() => lastTick('sound'), (t) => t > before, 'a tick of the sound queue');
    const m = await d.waitMetrics(
      (x) =>
        (x.get('pgferry_ticker_queue_errors_total{database="main",queue="broken",operation="ticker"}') ?? 0) > 1 &&
        (x.get('pgferry_ticker_rotations_total{database="main"}') ?? 0) > 0,
      'failures counted and rotations going on',
    );
    expect(m.get('pgferry_queue_status_error{database="main",queue="broken"}')).toBe(1);
    expect(m.get('pgferry_queue_status_error{database="main",queue="sound"}')).toBe(0);
    // Logged once (then at most once a minute), not at every tick.
    expect(d.log.match(/tick failed for queue "broken"/g)).toHaveLength(1);
    expect(await d.stop()).toBe(0);
  });
});
