/**
 * The web console of `pgferry daemon`, driven in headless Chromium: the page shows a queue
 * and its event tables, a consumer's pending events and age move as events flow and are
 * consumed, a dead letter whose payload and reason hold HTML and script is shown as text
 * (no script runs, no element is made of it), replaying it is refused without the token and
 * done with it (logged with who), pausing a queue pauses its ticker. Over HTTP: a read-only
 * console has no actions, another Host is refused (DNS rebinding), the page's CSP.
 */
import { request } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, type Page } from '@pgferry/test/browser';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Consumer, Producer, createQueue, forceTick, getQueueInfo, listDeadLetters, registerConsumer } from '@pgferry/queue';
import { queueConsoleView, serveConsole, type ConsoleServer } from '../../packages/queue/src/console/index.js';
import { Daemon, createLogger, parseDaemonConfig } from '../../packages/queue/src/daemon/index.js';

const QUEUE = 'jobs';
const CONSUMER = 'billing';
const TOKEN = 'console-test-token-0123456789';
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

/** textContent of the first match, or null. */
const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? null)`;
const row = `tr[data-consumer="${CONSUMER}"][data-queue="${QUEUE}"]`;

describe('the console of pgferry daemon, in Chromium', () => {
  const db = useTestDatabase();
  const logLines: string[] = [];
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;
  let readOnly: ConsoleServer;

  beforeAll(async () => {
    await createQueue(db.pool, QUEUE, { config: { ticker_max_lag: 50, ticker_max_count: 5 } });
    await registerConsumer(db.pool, QUEUE, CONSUMER);
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-console-'));
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`);
    daemon = new Daemon(
      parseDaemonConfig({
        databases: [{ name: 'app', url: db.url }],
        console: { port: 0, write: true, tokenFile: path.join(dir, 'token') },
        tickIntervalMs: 50,
        maintIntervalMs: 200,
      }),
      createLogger('text', { write: (s) => void logLines.push(s) }),
    );
    await daemon.start();
    readOnly = await serveConsole({ port: 0, title: 'read-only', views: [queueConsoleView(() => [{ name: 'app', db: db.pool }])] });
    browser = await Browser.launch();
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${daemon.consolePort}/`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await readOnly?.close();
    await daemon?.stop();
  });

  it('shows the queue, its ticker and its event tables', async () => {
    await page.waitFor('the queue', `${text(`tr[data-queue="${QUEUE}"] .queue-name`)} === ${JSON.stringify(QUEUE)}`);
    const tables = await page.evaluate<string>(text(`tr[data-queue="${QUEUE}"] td:nth-child(8)`));
    expect(tables).toMatch(/pgferry\.event_\d+_0 \(current\): [\d.]+ [kM]?B/);
    expect(await page.evaluate<string>(text('#mode'))).toBe('actions allowed (token)');
  });

  it("shows a consumer's lag moving as events flow and are consumed", async () => {
    await page.waitFor('the consumer caught up', `${text(`${row} .pending-events`)} === '0'`);
    const producer = new Producer(db.pool, { queue: QUEUE });
    await producer.insertMany(Array.from({ length: 20 }, (_, i) => ({ type: 'job', payload: { i } })));
    const pending = Number(await page.waitFor<string>('pending events', `Number(${text(`${row} .pending-events`)}) >= 20 && ${text(`${row} .pending-events`)}`));
    expect(pending).toBeGreaterThanOrEqual(20);
    await page.waitFor('a pending age', `${text(`${row} .pending-age`)} !== '0 ms'`);
    // The rate of the queue's events, over the last refreshes.
    await page.waitFor('events/s', `Number(${text(`tr[data-queue="${QUEUE}"] td:nth-child(2)`)}) > 0`);
    const consumer = new Consumer(db.pool, { queue: QUEUE, name: CONSUMER, pollIntervalMs: 50 });
    await consumer.run(async (batch) => {
      for await (const ev of batch.events()) void ev;
    }, { untilIdle: true });
    await consumer.close();
    await page.waitFor('the consumer caught up again', `${text(`${row} .pending-events`)} === '0' && ${text(`${row} .pending-age`)} === '0 ms'`);
  });

  it('shows a dead letter holding HTML and script as text, and replays it only with the token', async () => {
    await new Producer(db.pool, { queue: QUEUE }).insert('poison', { note: HOSTILE });
    await forceTick(db.pool, QUEUE);
    const consumer = new Consumer(db.pool, { queue: QUEUE, name: CONSUMER, pollIntervalMs: 50 });
    await consumer.run(async (batch) => {
      for await (const ev of batch.events()) batch.deadLetter(ev, `<b>bad</b> ${HOSTILE}`);
    }, { untilIdle: true });
    await consumer.close();
    expect(await listDeadLetters(db.pool, QUEUE)).toHaveLength(1);

    await page.waitFor('the dead letter count', `${text(`${row} .dead-letters`)} === '1'`);
    await page.click(`${row} .show-consumer`);
    await page.waitFor('the dead letter listed', `document.querySelectorAll('#dead-letters tr[data-dead-letter]').length === 1`);
    await page.click('#dead-letters tr[data-dead-letter] .inspect');
    const payload = await page.waitFor<string>('the payload', `${text('#payload')} || false`);
    expect(payload).toContain(HOSTILE.replace(/"/g, '\\"')); // JSON text, as stored
    expect(await page.evaluate<string>(text('#dead-letters tr[data-dead-letter] td:nth-child(6)'))).toBe(`<b>bad</b> ${HOSTILE}`);
    // Nothing of it became markup, nothing of it ran.
    expect(await page.evaluate<number>(`document.querySelectorAll('main img, main script, #dead-letters b').length`)).toBe(0);
    expect(await page.evaluate<unknown>('window.__pwned')).toBeUndefined();
    expect(page.dialogs).toEqual([]);

    // Without the right token: refused, logged, the dead letter stays.
    await page.fill('#operator', 'alice');
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('#dead-letters button[data-action="replay-dead-letters"]');
    await page.waitFor('the refusal', `(${text('#status')} ?? '').includes('a valid token is needed')`);
    expect(await listDeadLetters(db.pool, QUEUE)).toHaveLength(1);

    // With it: replayed, and the log says who.
    await page.fill('#token', TOKEN);
    await page.click('#dead-letters button[data-action="replay-dead-letters"]');
    await page.waitFor('the replay in the action log', `(${text('#actions tr[data-action-entry] .action-result')} ?? '').includes('"replayed":1')`);
    expect(await listDeadLetters(db.pool, QUEUE)).toHaveLength(0);
    expect(await page.evaluate<string>(text('#actions tr[data-action-entry] .action-by'))).toBe('alice');
    expect(logLines.some((l) => /console action queues\/replay-dead-letters .* by "alice" .*"replayed":1/.test(l))).toBe(true);
    expect(page.errors).toEqual([]);
  });

  it("pauses and resumes the queue's ticker", async () => {
    await page.click(`tr[data-queue="${QUEUE}"] button[data-action="pause-queue"]`);
    await page.waitFor('the paused badge', `(${text(`tr[data-queue="${QUEUE}"] td:nth-child(6)`)} ?? '').startsWith('paused')`);
    expect((await getQueueInfo(db.pool, QUEUE))[0]!.tickerPaused).toBe(true);
    await page.click(`tr[data-queue="${QUEUE}"] button[data-action="resume-queue"]`);
    await page.waitFor('the ticker running', `(${text(`tr[data-queue="${QUEUE}"] td:nth-child(6)`)} ?? '').startsWith('running')`);
    expect((await getQueueInfo(db.pool, QUEUE))[0]!.tickerPaused).toBe(false);
  });

  it('refuses actions on a read-only console, other Host names, and sets a strict CSP', async () => {
    const post = await fetch(`http://127.0.0.1:${readOnly.port}/api/action/queues/pause-queue`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ args: { queue: QUEUE } }),
    });
    expect(post.status).toBe(403);
    const noToken = await fetch(`http://127.0.0.1:${daemon.consolePort}/api/action/queues/pause-queue`, {
      method: 'POST',
      body: JSON.stringify({ args: { queue: QUEUE } }),
    });
    expect(noToken.status).toBe(401);
    expect((await getQueueInfo(db.pool, QUEUE))[0]!.tickerPaused).toBe(false);
    const page = await fetch(`http://127.0.0.1:${readOnly.port}/`);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const rebound = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: readOnly.port, path: '/api/state', headers: { Host: 'attacker.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
  });

  it('offers no token field and no action on a read-only console', async () => {
    const ro = await browser.newPage();
    await ro.goto(`http://127.0.0.1:${readOnly.port}/`);
    await ro.waitFor('the queue', `${text(`tr[data-queue="${QUEUE}"] .queue-name`)} === ${JSON.stringify(QUEUE)}`);
    expect(await ro.evaluate<string>(text('#mode'))).toBe('read-only');
    expect(await ro.evaluate<string>(`getComputedStyle(document.getElementById('credentials')).display`)).toBe('none');
    expect(await ro.evaluate<number>(`[...document.querySelectorAll('button[data-action]')].filter((b) => b.offsetParent !== null).length`)).toBe(0);
  });
});

