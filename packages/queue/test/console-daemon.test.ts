/**
 * `pgferry daemon --console-*` as a real process: write without a token (or with a short
 * one) is refused at start; read-only by default; with the token, actions over HTTP
 * (pause, rewind, purge), each in the daemon's log with who; bad arguments refused; a
 * SIGHUP turns write on and rotates the token (read from its file again), the page's
 * action log kept.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { createQueue, forceTick, getConsumerInfo, getQueueInfo, registerConsumer, Producer } from '../src/index.js';
import { DaemonProcess } from './daemon-helpers.js';
import { pgferry } from './cli-helpers.js';

const TOKEN = 'daemon-console-token-abcdef0123';

describe('pgferry daemon --console-port', () => {
  const db = useTestDatabase();
  const daemons: DaemonProcess[] = [];
  const start = (args: string[], env: Record<string, string> = {}) => {
    const d = new DaemonProcess(['--db', db.url, '--tick-interval', '50', ...args], env);
    daemons.push(d);
    return d;
  };
  const consolePort = async (d: DaemonProcess) => {
    await d.waitLog(/serving the console on http:\/\/127\.0\.0\.1:\d+\//, 'the console');
    return Number(/serving the console on http:\/\/127\.0\.0\.1:(\d+)\//.exec(d.log)![1]);
  };

  beforeAll(async () => {
    await createQueue(db.pool, 'q');
    await registerConsumer(db.pool, 'q', 'c');
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it('refuses --console-write without a token, or with a short one', async () => {
    const none = await pgferry(['daemon', '--db', db.url, '--console-port', '0', '--console-write']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/console\.write: needs a token/);
    const short = await pgferry(['daemon', '--db', db.url, '--console-port', '0', '--console-write'], { PGFERRY_CONSOLE_TOKEN: 'short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 16 characters/);
  });

  it('is read-only by default, on 127.0.0.1', async () => {
    const d = start(['--console-port', '0']);
    const port = await consolePort(d);
    expect(d.log).toMatch(/\(read-only\)/);
    const state = (await (await fetch(`http://127.0.0.1:${port}/api/state`)).json()) as {
      write: boolean;
      sections: { queues: { ok: boolean; data: { queues: { queueName: string }[] }[] } };
    };
    expect(state.write).toBe(false);
    expect(state.sections.queues.data[0]!.queues.map((q) => q.queueName)).toEqual(['q']);
    const res = await fetch(`http://127.0.0.1:${port}/api/action/queues/pause-queue`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: '{"args":{"queue":"q"}}' });
    expect(res.status).toBe(403);
    expect(await d.stop()).toBe(0);
  });

  it('runs actions with the token and logs them with who', async () => {
    const d = start(['--console-port', '0', '--console-write'], { PGFERRY_CONSOLE_TOKEN: TOKEN });
    const port = await consolePort(d);
    const act = (name: string, args: unknown, token = TOKEN) =>
      fetch(`http://127.0.0.1:${port}/api/action/queues/${name}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ by: 'bob', args }),
      });

    expect((await act('pause-queue', { queue: 'q' }, `${TOKEN}x`)).status).toBe(401);
    expect((await getQueueInfo(db.pool, 'q'))[0]!.tickerPaused).toBe(false);
    expect((await act('pause-queue', { queue: 'q' })).status).toBe(200);
    expect((await getQueueInfo(db.pool, 'q'))[0]!.tickerPaused).toBe(true);
    expect((await act('resume-queue', { queue: 'q' })).status).toBe(200);

    // Rewind: the consumer moves back to the tick before the events, which come again.
    const at = new Date();
    await new Producer(db.pool, { queue: 'q' }).insert('t', { n: 1 });
    const latest = await forceTick(db.pool, 'q');
    await db.pool.query("SELECT pgferry.register_consumer_at('q', 'c', $1)", [latest]);
    expect((await getConsumerInfo(db.pool, 'q', 'c'))[0]!.pendingEvents).toBe(0);
    const rewind = await act('rewind-consumer', { queue: 'q', consumer: 'c', time: at.toISOString() });
    expect(rewind.status).toBe(200);
    const [after] = await getConsumerInfo(db.pool, 'q', 'c');
    expect(BigInt(after!.lastTick!)).toBeLessThan(BigInt(latest));
    expect(after!.pendingEvents).toBeGreaterThan(0);

    const bad = await act('rewind-consumer', { queue: 'q', consumer: 'c', time: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/bad arguments: time/);
    expect((await act('purge-dead-letters', { queue: 'q', consumer: 'c' })).status).toBe(200);

    await d.waitLog(/console action queues\/purge-dead-letters .* by "bob" from 127\.0\.0\.1: \{"purged":0\}/, 'the purge in the log');
    expect(d.log).toMatch(/console action queues\/pause-queue \{"queue":"q"\} by "bob" from 127\.0\.0\.1: \{"paused":true\}/);
    expect(d.log).toMatch(/console action queues\/rewind-consumer .* failed: bad arguments/);
    expect(d.log).not.toContain(TOKEN);
    expect(await d.stop()).toBe(0);
  });

  it('reloads on SIGHUP: write turned on, then the token rotated', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-console-reload-'));
    const config = path.join(dir, 'daemon.json');
    const tokenFile = path.join(dir, 'token');
    const writeConfig = (console: object) => writeFileSync(config, JSON.stringify({ databases: [db.url], tickIntervalMs: 50, console }));
    writeConfig({ port: 0 });
    const d = start(['--config', config]);
    await consolePort(d);
    expect(d.log).toMatch(/\(read-only\)/);
    // Its SIGHUP handler is in place once it says it started.
    await d.waitLog(/pgferry daemon started/, 'the daemon started');

    writeFileSync(tokenFile, `${TOKEN}\n`);
    writeConfig({ port: 0, write: true, tokenFile });
    d.signal('SIGHUP');
    await d.waitLog(/serving the console on http:\/\/127\.0\.0\.1:\d+\/ \(actions allowed with the token\)/, 'the console with write');
    const port = Number([...d.log.matchAll(/serving the console on http:\/\/127\.0\.0\.1:(\d+)\//g)].at(-1)![1]);
    const pause = (token: string) =>
      fetch(`http://127.0.0.1:${port}/api/action/queues/pause-queue`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify({ by: 'dave', args: { queue: 'q' } }),
      });
    expect((await pause(TOKEN)).status).toBe(200);

    // A new token in the file: the old one is refused after the reload, the new one works.
    const next = `${TOKEN}-rotated`;
    writeFileSync(tokenFile, next);
    d.signal('SIGHUP');
    await d.waitLog(/config reloaded[^\n]*\n[\s\S]*config reloaded/, 'the second reload');
    const port2 = Number([...d.log.matchAll(/serving the console on http:\/\/127\.0\.0\.1:(\d+)\//g)].at(-1)![1]);
    const pause2 = (token: string) =>
      fetch(`http://127.0.0.1:${port2}/api/action/queues/resume-queue`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify({ by: 'dave', args: { queue: 'q' } }),
      });
    expect((await pause2(TOKEN)).status).toBe(401);
    expect((await pause2(next)).status).toBe(200);
    const state = (await (await fetch(`http://127.0.0.1:${port2}/api/state`)).json()) as { actions: { action: string; by: string; ok: boolean }[] };
    expect(state.actions.filter((a) => a.ok).map((a) => `${a.action} by ${a.by}`)).toEqual(['resume-queue by dave', 'pause-queue by dave']);
    expect(await d.stop()).toBe(0);
  });
});
