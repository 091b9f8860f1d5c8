/** Run `pgferry daemon` as a child process, read its log and scrape its metrics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli-helpers.js';

export function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** Poll `fn` until `ok`; `what` may be a function, to describe the state at the timeout. */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string | (() => string), ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch {
      // not ready yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class DaemonProcess {
  readonly child: ChildProcess;
  log = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], extraEnv: Record<string, string> = {}) {
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^PG/.test(k))), ...extraEnv };
    this.child = spawn(process.execPath, [BIN, 'daemon', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.log += d));
    this.child.stderr!.on('data', (d) => (this.log += d));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** The metrics port, from the "serving metrics on" log line. */
  port(): Promise<number> {
    return until(
      async () => /serving metrics on http:\/\/[^:]+:(\d+)\/metrics/.exec(this.log),
      (m) => m !== null,
      () => `the daemon's metrics endpoint (${this.state()})`,
    ).then((m) => Number(m![1]));
  }

  async metrics(): Promise<Map<string, number>> {
    const res = await fetch(`http://127.0.0.1:${await this.port()}/metrics`);
    return parseMetrics(await res.text());
  }

  /** Scrape until `ok` holds. */
  waitMetrics(ok: (m: Map<string, number>) => boolean, what: string): Promise<Map<string, number>> {
    return until(() => this.metrics(), ok, () => `${what} (${this.state()})`);
  }

  waitLog(re: RegExp, what: string): Promise<unknown> {
    return until(async () => re.test(this.log), (x) => x, () => `${what} (${this.state()})`);
  }

  /** Whether it still runs, and its log so far: for a timeout's message. */
  state(): string {
    const { exitCode, signalCode } = this.child;
    const ran = exitCode === null && signalCode === null ? 'running' : `exited: code ${exitCode}, signal ${signalCode}`;
    return `daemon ${ran}; log:\n${this.log}`;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGTERM and wait for the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
