/**
 * The web console of `pgferry replicate worker`, driven in headless Chromium: the cascade
 * (root and leaf, the lag of the hop), a table in copy with its progress (a chunked copy
 * held at a row by a lock the test owns: the chunks before it are committed), a table whose
 * copy fails (a CHECK on the subscriber) with its error message, then the held table done
 * once the lock goes, and copied again when resync is asked with the token; and the
 * providers' queues in the same page.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { Browser, type Page } from '@pgferry/test/browser';
import { useTestDatabase } from '@pgferry/test/test-database';
import { addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { createLogger } from '../../packages/queue/src/daemon/index.js';
import { loadHandlers, parseWorkerConfig } from '../../packages/replicator/src/cli/worker-config.js';
import { WorkerDaemon } from '../../packages/replicator/src/cli/worker-daemon.js';

const LOCK = 727_272;
const TOKEN = 'replication-console-token-42424242';
const ROWS = 2000;
const CHUNK = 200;
/** The subscriber's copy of this row waits on LOCK. */
const HELD_ROW = 1500;

const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? null)`;

describe('the console of pgferry replicate worker, in Chromium', () => {
  const provider = useTestDatabase();
  const subscriber = useTestDatabase();
  let worker: WorkerDaemon;
  let browser: Browser;
  let page: Page;
  let locker: pg.Client;

  beforeAll(async () => {
    const prov = provider.pool;
    await createRootNode(prov, { node: 'root', queue: 'repl' });
    await createLeafNode(prov, subscriber.pool, { node: 'leaf1' });
    await prov.query('CREATE TABLE public.big (id bigint PRIMARY KEY, note text)');
    await prov.query(`INSERT INTO public.big SELECT g, 'row ' || g FROM generate_series(1, ${ROWS}) g`);
    await prov.query('ANALYZE public.big');
    await prov.query('CREATE TABLE public.broken (id bigint PRIMARY KEY, v int)');
    await prov.query('INSERT INTO public.broken SELECT g, g - 5 FROM generate_series(1, 10) g');
    await addTable(prov, subscriber.pool, { subscription: 'leaf1', table: 'public.big', create: true });
    await addTable(prov, subscriber.pool, { subscription: 'leaf1', table: 'public.broken', create: true });
    // The subscriber refuses some of broken's rows: its copy fails, again and again.
    await subscriber.pool.query('ALTER TABLE public.broken ADD CONSTRAINT v_positive CHECK (v >= 0)');
    // big's copy waits at HELD_ROW while the test holds LOCK.
    await subscriber.pool.query(`
      CREATE FUNCTION public.hold_copy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id = ${HELD_ROW} THEN PERFORM pg_catalog.pg_advisory_xact_lock(${LOCK}); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_copy BEFORE INSERT ON public.big FOR EACH ROW EXECUTE FUNCTION public.hold_copy();`);
    locker = await subscriber.connect();
    await locker.query('SELECT pg_advisory_lock($1)', [LOCK]);

    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-console-'));
    writeFileSync(path.join(dir, 'token'), TOKEN);
    const config = parseWorkerConfig({
      subscriptions: [
        { subscription: 'leaf1', provider: provider.url, subscriber: subscriber.url, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 500, copyChunkRows: CHUNK },
      ],
      tickIntervalMs: 50,
      console: { port: 0, write: true, tokenFile: path.join(dir, 'token') },
    });
    worker = new WorkerDaemon(config, await loadHandlers(config), createLogger('text', { write: () => undefined }));
    await worker.start();
    browser = await Browser.launch();
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${worker.consolePort}/`);
  }, 120_000);

  afterAll(async () => {
    await locker?.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await locker?.end();
    await browser?.close();
    await worker?.stop();
  });

  it('shows the cascade with the lag of each hop', async () => {
    await page.waitFor('the root', `${text('li[data-node="root"]')} !== null`);
    const leaf = await page.waitFor<string>('the leaf and its hop', `(${text('li[data-node="leaf1"]')} ?? '').includes('hop lag') && ${text('li[data-node="leaf1"]')}`);
    expect(leaf).toMatch(/leaf1 \(leaf\) ← root, tick \d+, hop lag/);
  });

  it('shows a table in copy with its progress, and a failing table with its error', async () => {
    const committed = ((HELD_ROW - 1) / CHUNK) | 0;
    const progress = await page.waitFor<string>(
      'the held copy',
      `(${text('tr[data-table="public.big"] .copy-progress')} ?? '').startsWith(' ${committed * CHUNK} / ~${ROWS} rows') && ${text('tr[data-table="public.big"] .copy-progress')}`,
    );
    expect(progress).toContain(`(${((100 * committed * CHUNK) / ROWS).toFixed(1)}%)`);
    expect(await page.evaluate<string>(text('tr[data-table="public.big"] .table-state'))).toBe('in-copy');
    expect(await page.evaluate<string>(`document.querySelector('tr[data-table="public.big"] progress').value.toFixed(0)`)).toBe('70');

    const error = await page.waitFor<string>('the failing table', `${text('tr[data-table="public.broken"] .table-error')} || false`);
    expect(error).toMatch(/violates check constraint "v_positive"/);
    expect(await page.evaluate<string>(`document.querySelector('tr[data-table="public.broken"] .table-state').className`)).toContain('state-error');
  });

  it('shows the copy done once it may go on, and the provider queue', async () => {
    await locker.query('SELECT pg_advisory_unlock($1)', [LOCK]);
    await page.waitFor('big replicated', `${text('tr[data-table="public.big"] .table-state')} === 'ok'`, 60_000);
    expect(await page.evaluate<string>(text('tr[data-queue="repl"] .queue-name'))).toBe('repl');
  });

  it('resyncs a table with the token', async () => {
    await page.fill('#operator', 'carol');
    await page.fill('#token', TOKEN);
    // Held again at HELD_ROW: the table is seen back in copy, then done.
    await locker.query('SELECT pg_advisory_lock($1)', [LOCK]);
    await page.click('tr[data-table="public.big"] button[data-action="resync-table"]');
    await page.waitFor('the resync in the action log', `(${text('#actions tr[data-action-entry] .action-result')} ?? '') === '{"resync":"public.big"}'`);
    expect(await page.evaluate<string>(text('#actions tr[data-action-entry] .action-by'))).toBe('carol');
    await page.waitFor('big in copy again', `${text('tr[data-table="public.big"] .table-state')} === 'in-copy'`);
    expect((await listTables(subscriber.pool, 'leaf1')).find((t) => t.source === 'public.big')!.state).toBe('in-copy');
    await locker.query('SELECT pg_advisory_unlock($1)', [LOCK]);
    await page.waitFor('big replicated again', `${text('tr[data-table="public.big"] .table-state')} === 'ok'`, 60_000);
    expect(page.errors).toEqual([]);
  });
});
