/**
 * The demo's web console: the one `pgferry replicate worker --console-port` serves, here
 * around the demo's worker (queues of its provider, the subscription's tables, the
 * cascade), and a screenshot of it in headless Chromium. Without Chromium the demo says so
 * and goes on without the picture.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { queueConsoleView, serveConsole, type ConsoleServer } from '@pgferry/queue/console';
import { providerSources, replicationConsoleView, type ReplicationWorker } from '@pgferry/replicator';
import { Browser, findChromium } from '@pgferry/test/browser';
import { log } from '../lib/log.js';

/** Where the screenshot goes (gitignored). */
export const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

export async function serveDemoConsole(worker: ReplicationWorker): Promise<ConsoleServer> {
  const views = [queueConsoleView(() => providerSources(worker)), replicationConsoleView(worker)];
  const server = await serveConsole({ port: 0, title: 'pgferry demo: replicate worker', views });
  log(`console: open http://127.0.0.1:${server.port}/ while the demo runs (read-only)`);
  const close = server.close;
  return { ...server, close: async () => { await close(); await Promise.all(views.map((v) => v.close?.())); } };
}

/** A PNG of the console once it shows a table in copy; the file, or null without Chromium. */
export async function screenshotConsole(port: number, name = 'console.png'): Promise<string | null> {
  if (!findChromium()) {
    log('console screenshot skipped: chromium not found (apt-get install chromium, or set PGFERRY_CHROMIUM)');
    return null;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, name);
  const browser = await Browser.launch({ width: 1400, height: 1100 });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitFor('the tables on the page', `document.querySelectorAll('tr[data-table]').length > 0`, 60_000);
    await page.screenshot(file);
  } finally {
    await browser.close();
  }
  log(`console screenshot: ${path.relative(process.cwd(), file)}`);
  return file;
}
