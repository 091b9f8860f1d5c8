/**
 * `pgferry daemon` configuration and operation: a bad config is refused at start with the
 * path of each error; flags work without a file; SIGHUP reloads (and a bad reload keeps
 * the running config); two daemons on one database elect one ticker leader and the other
 * takes over when the leader stops.
 */
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { parseDaemonConfig } from '../src/daemon/config.js';
import { DaemonProcess } from './daemon-helpers.js';
import { pgferry } from './cli-helpers.js';

describe('pgferry daemon: config, reload, two copies', () => {
  const db1 = useTestDatabase();
  const db2 = useTestDatabase();
  let dir: string;
  const daemons: DaemonProcess[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-daemon-config-'));
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bad config at start, naming the path of each error', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({ databases: [{ url: 5 }, { url: 'postgres://x/y', tickIntervalMs: 0 }], metrics: { port: 'x' }, colour: 'red' }),
    );
    const r = await pgferry(['daemon', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid config ${file}:`);
    expect(r.stderr).toMatch(/^ {2}databases\.0\.url: .*string/m);
    expect(r.stderr).toMatch(/^ {2}databases\.1\.tickIntervalMs: /m);
    expect(r.stderr).toMatch(/^ {2}metrics\.port: .*number/m);
    expect(r.stderr).toMatch(/^ {2}\(top\): .*colour/m);

    await writeFile(file, '{ "databases": [');
    const notJson = await pgferry(['daemon', '--config', file]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('not valid JSON');

    // Flags override the file; defaults are filled in.
    expect(
      parseDaemonConfig({ databases: ['postgres://u@h:6543/app', { name: 'b', url: 'postgres://h/b', tickIntervalMs: 7 }] }),
    ).toEqual({
      databases: [
        { name: 'h:6543/app', url: 'postgres://u@h:6543/app', tickIntervalMs: 100, maintIntervalMs: 2000, standbyIntervalMs: 1000 },
        { name: 'b', url: 'postgres://h/b', tickIntervalMs: 7, maintIntervalMs: 2000, standbyIntervalMs: 1000 },
      ],
      metrics: undefined,
      logFormat: 'text',
    });
  });

  it('reloads its config on SIGHUP, and keeps the running one when the new one is bad', async () => {
    const file = path.join(dir, 'reload.json');
    const write = (databases: unknown[]) =>
      writeFile(file, JSON.stringify({ databases, metrics: { port: 0, host: '127.0.0.1' }, tickIntervalMs: 50, logFormat: 'json' }));
    await write([{ name: 'one', url: db1.url }]);
    const d = new DaemonProcess(['--config', file]);
    daemons.push(d);
    await d.waitMetrics((m) => m.get('pgferry_ticker_leader{database="one"}') === 1, 'leader on "one"');
    // JSON log lines.
    const first = d.log.split('\n').find((l) => l.includes('running for'))!;
    expect(JSON.parse(first)).toMatchObject({ level: 'info', msg: 'running for 1 database(s)' });

    await write([{ name: 'one', url: db1.url }, { name: 'two', url: db2.url }]);
    d.signal('SIGHUP');
    const m = await d.waitMetrics((x) => x.get('pgferry_ticker_leader{database="two"}') === 1, 'leader on "two" after SIGHUP');
    expect(m.get('pgferry_daemon_databases')).toBe(2);
    expect(m.get('pgferry_daemon_config_reloads_total{result="ok"}')).toBe(1);
    await d.waitLog(/config reloaded: 2 database\(s\) \(added 1, removed 0, changed 0\)/, 'the reload log line');

    await writeFile(file, JSON.stringify({ databases: [] }));
    d.signal('SIGHUP');
    const kept = await d.waitMetrics((x) => x.get('pgferry_daemon_config_reloads_total{result="error"}') === 1, 'a refused reload');
    expect(kept.get('pgferry_daemon_databases')).toBe(2);
    expect(kept.get('pgferry_ticker_leader{database="one"}')).toBe(1);
    await d.waitLog(/config reload refused, keeping the running config: .*databases: give at least one database/, 'the refusal');
    expect(d.child.exitCode).toBeNull();
    expect(await d.stop()).toBe(0);
  });

  it('runs as two copies: one ticker leader per database, the other takes over', async () => {
    // Configured by flags only (no file); the database from --db, or from PGFERRY_DB.
    const flags = ['--metrics-port', '0', '--metrics-host', '127.0.0.1', '--tick-interval', '50'];
    const a = new DaemonProcess(['--db', db1.url, ...flags]);
    const b = new DaemonProcess(flags, { PGFERRY_DB: db1.url });
    daemons.push(a, b);
    const label = `127.0.0.1:${new URL(db1.url).port}/${db1.name}`;
    const key = `pgferry_ticker_leader{database="${label}"}`;
    await a.waitMetrics((m) => m.get(`pgferry_ticker_connected{database="${label}"}`) === 1, 'a connected');
    await b.waitMetrics((m) => m.get(`pgferry_ticker_connected{database="${label}"}`) === 1, 'b connected');
    const leaderOf = async () => [(await a.metrics()).get(key), (await b.metrics()).get(key)];
    let leaders = await leaderOf();
    for (let i = 0; i < 100 && leaders[0]! + leaders[1]! === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      leaders = await leaderOf();
    }
    expect(leaders.sort()).toEqual([0, 1]);
    const [leader, standby] = (await a.metrics()).get(key) === 1 ? [a, b] : [b, a];
    await standby.waitLog(/standing by \(another process is the ticker leader\)/, 'the standby log line');
    expect(await leader.stop()).toBe(0);
    await standby.waitMetrics((m) => m.get(key) === 1, 'the standby to take over');
    await standby.waitLog(/ticker leader/, 'the takeover log line');
    expect(await standby.stop()).toBe(0);
  });
});
