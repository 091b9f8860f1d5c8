/**
 * Headless Chromium (Debian's `chromium` package, never downloaded) driven over the Chrome
 * DevTools Protocol on a pipe (`--remote-debugging-pipe`: JSON messages ending in a NUL on
 * file descriptors 3 and 4). The handful of commands the console tests and the demo need
 * (open a page, evaluate, screenshot, see script errors and dialogs) fit here without a
 * dependency: no WebSocket (Node 20 has no client), no driver package and its downloads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The Chromium binary: $PGFERRY_CHROMIUM, else the first of the usual paths that exists. */
export function findChromium(): string | undefined {
  const env = process.env.PGFERRY_CHROMIUM;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

export class BrowserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrowserError';
  }
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  method: string;
}

type Listener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private buffer = '';
  private exited = false;
  /** The end of Chromium's stderr, for the error when it exits early. */
  private stderr = '';

  private constructor(
    private readonly proc: ChildProcess,
    private readonly toBrowser: Writable,
    fromBrowser: Readable,
    private readonly profile: string,
  ) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-2000)));
    fromBrowser.setEncoding('utf8');
    fromBrowser.on('data', (chunk: string) => this.receive(chunk));
    // A write after Chromium is gone fails with EPIPE: its exit rejects what was pending.
    toBrowser.on('error', () => undefined);
    proc.once('error', (err) => {
      this.stderr += err.message;
      proc.emit('exit');
    });
    proc.once('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new BrowserError(`chromium exited during ${p.method}; its stderr ends with:\n${this.stderr}`));
      this.pending.clear();
    });
  }

  static async launch(options: { executable?: string; width?: number; height?: number } = {}): Promise<Browser> {
    const executable = options.executable ?? findChromium();
    if (!executable) throw new BrowserError('chromium not found (apt-get install chromium, or set PGFERRY_CHROMIUM)');
    const profile = mkdtempSync(path.join(tmpdir(), 'pgferry-chromium-'));
    const args = [
      '--headless',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      // Root in containers: Chromium's sandbox needs user namespaces it may not have.
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--mute-audio',
      '--hide-scrollbars',
      `--window-size=${options.width ?? 1400},${options.height ?? 1000}`,
      'about:blank',
    ];
    const proc = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const browser = new Browser(proc, proc.stdio[3] as Writable, proc.stdio[4] as Readable, profile);
    try {
      await browser.send('Browser.getVersion');
    } catch (err) {
      await browser.close();
      throw err;
    }
    return browser;
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\0')) >= 0) {
      const msg = JSON.parse(this.buffer.slice(0, end)) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
        method?: string;
        params?: Record<string, unknown>;
        sessionId?: string;
      };
      this.buffer = this.buffer.slice(end + 1);
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new BrowserError(`${p.method}: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        for (const l of this.listeners.get(msg.method) ?? []) l(msg.params ?? {}, msg.sessionId);
      }
    }
  }

  /** One DevTools command (on a page's session when sessionId is given). */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new BrowserError(`chromium has exited (${method})`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  on(method: string, listener: Listener): void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(listener);
  }

  async newPage(): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    await page.init();
    return page;
  }

  async close(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      await this.send('Browser.close').catch(() => undefined);
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  /** Uncaught script errors and console.error lines of the page. */
  readonly errors: string[] = [];
  /** Dialogs (alert, confirm, prompt) the page opened: dismissed, and kept here. */
  readonly dialogs: string[] = [];
  private loaded: (() => void) | undefined;

  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {}

  async init(): Promise<void> {
    const mine = (fn: (p: Record<string, unknown>) => void): Listener => (p, s) => {
      if (s === this.sessionId) fn(p);
    };
    this.browser.on('Runtime.exceptionThrown', mine((p) => this.errors.push(JSON.stringify((p.exceptionDetails as { exception?: { description?: string } })?.exception?.description ?? p))));
    this.browser.on('Runtime.consoleAPICalled', mine((p) => {
      if (p.type === 'error') this.errors.push(JSON.stringify(p.args));
    }));
    this.browser.on('Page.javascriptDialogOpening', mine((p) => {
      this.dialogs.push(String(p.message));
      void this.send('Page.handleJavaScriptDialog', { accept: false });
    }));
    this.browser.on('Page.loadEventFired', mine(() => this.loaded?.()));
    await this.send('Page.enable');
    await this.send('Runtime.enable');
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Navigate and wait for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((r) => (this.loaded = r));
    const { errorText } = (await this.send('Page.navigate', { url })) as { errorText?: string };
    if (errorText) throw new BrowserError(`cannot open ${url}: ${errorText}`);
    await loaded;
  }

  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new BrowserError(`evaluate: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Evaluate `expression` until it is truthy (its value returned), or fail after timeoutMs. */
  async waitFor<T>(what: string, expression: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      last = await this.evaluate<T>(expression);
      if (last) return last as T;
      if (Date.now() > deadline) throw new BrowserError(`timed out waiting for ${what} (last value: ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Click the element `selector` finds (a JavaScript click: what a user's click runs). */
  async click(selector: string): Promise<void> {
    const found = await this.evaluate<boolean>(`(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return false; e.click(); return true; })()`);
    if (!found) throw new BrowserError(`nothing to click at ${selector}`);
  }

  /** Set an input's value as typing would. */
  async fill(selector: string, value: string): Promise<void> {
    const found = await this.evaluate<boolean>(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return false; e.value = ${JSON.stringify(value)}; e.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`,
    );
    if (!found) throw new BrowserError(`no input at ${selector}`);
  }

  /** A PNG of the whole page. */
  async screenshot(file: string): Promise<void> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
    writeFileSync(file, Buffer.from(data, 'base64'));
  }
}
