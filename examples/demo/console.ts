/**
 * The demo's web console: the one `pgferry replicate worker --console-port` serves, here
 * around the demo's worker (queues of its provider, the subscription's tables, the
 * cascade), and a screenshot of it in headless Chromium while a table is being copied.
 * Without Chromium the demo says so and goes on without the picture.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { queueConsoleView, serveConsole, type ConsoleServer, type ConsoleView } from '@pgferry/queue/console';
import { providerSources, replicationConsoleView, type ReplicationWorker } from '@pgferry/replicator';
import { Browser, findChromium, type Page } from '@pgferry/test/browser';
import { log } from '../lib/log.js';

/** Where the screenshot goes (gitignored). */
export const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

export class DemoConsole {
  private browser: Promise<{ browser: Browser; page: Page } | null> = Promise.resolve(null);

  private constructor(
    private readonly server: ConsoleServer,
    private readonly views: ConsoleView[],
  ) {}

  /** Serve the worker's console (read-only) and, when Chromium is here, open it at once. */
  static async start(worker: ReplicationWorker): Promise<DemoConsole> {
    const views = [queueConsoleView(() => providerSources(worker)), replicationConsoleView(worker)];
    const server = await serveConsole({ port: 0, title: 'pgferry demo: replicate worker', views });
    const url = `http://127.0.0.1:${server.port}/`;
    log(`console: open ${url} while the demo runs (read-only)`);
    const c = new DemoConsole(server, views);
    if (!findChromium()) {
      log('console screenshot skipped: chromium not found (apt-get install chromium, or set PGFERRY_CHROMIUM)');
    } else {
      // Launched now, so that the picture is taken while a copy runs, not after it.
      c.browser = (async () => {
        const browser = await Browser.launch({ width: 1400, height: 1000 });
        const page = await browser.newPage();
        await page.goto(url);
        return { browser, page };
      })().catch((err: unknown) => {
        log(`console screenshot skipped: cannot start chromium: ${(err as Error).message}`);
        return null;
      });
    }
    return c;
  }

  /** A PNG of the console showing a copy's progress (examples/demo/out/console.png). */
  async screenshot(name = 'console.png'): Promise<string | null> {
    const b = await this.browser;
    if (!b) return null;
    mkdirSync(OUT_DIR, { recursive: true });
    const file = path.join(OUT_DIR, name);
    await b.page
      .waitFor('a copy in progress on the page', `document.querySelector('tr[data-table] progress') !== null`, 15_000)
      .catch(() => log('console: no copy in progress on the page any more; taking the picture anyway'));
    await b.page.screenshot(file);
    log(`console screenshot: ${path.relative(process.cwd(), file)}`);
    return file;
  }

  async close(): Promise<void> {
    const b = await this.browser;
    await b?.browser.close();
    await this.server.close();
    await Promise.all(this.views.map((v) => v.close?.()));
  }
}
