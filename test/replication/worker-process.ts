/**
 * A replication worker as a child process (test/replication/worker-launcher.ts), for tests
 * that SIGKILL it: processes are kept loaded ahead, so that start() after a kill lets it
 * go at once (loading takes seconds on a busy machine). PGFERRY_WORKER_DEBUG sets the
 * workers' DEBUG (their output is in `log`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ReplicationWorkerOptions } from '@pgferry/replicator';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Launched {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

export interface WorkerProcessOptions {
  /** Processes kept loaded ahead (default 1). */
  standby?: number;
  /** Each piece of the workers' output, as it comes. */
  onOutput?: (text: string) => void;
}

export class WorkerProcess {
  private active: Launched | undefined;
  private readonly standby: Launched[] = [];
  /** The last lines of the workers' output. */
  log = '';
  kills = 0;
  starts = 0;

  constructor(
    private readonly options: ReplicationWorkerOptions,
    private readonly process: WorkerProcessOptions = {},
  ) {}

  private launch(): Launched {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'test/replication/worker-launcher.ts'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, DEBUG: process.env.PGFERRY_WORKER_DEBUG ?? '', PGFERRY_WORKER_OPTIONS: JSON.stringify(this.options) },
    });
    let readyNow!: () => void;
    let failed!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      readyNow = resolve;
      failed = reject;
    });
    ready.catch(() => undefined);
    const onData = (d: Buffer) => {
      const text = d.toString();
      if (text.includes('ready\n')) readyNow();
      this.process.onOutput?.(text);
      this.log = (this.log + text).slice(-30_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.stdin!.on('error', () => undefined);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code, signal) => {
        failed(new Error(`worker process exited before it was ready (${code ?? signal}): ${this.log.slice(-2000)}`));
        resolve(code);
      }),
    );
    return { child, ready, exited };
  }

  async start(): Promise<void> {
    const ahead = this.process.standby ?? 1;
    while (this.standby.length < ahead) this.standby.push(this.launch());
    const next = this.standby.shift()!;
    this.standby.push(this.launch());
    await next.ready;
    next.child.stdin!.write('go\n');
    this.active = next;
    this.starts++;
  }

  /** SIGKILL the running worker. */
  async kill(): Promise<void> {
    const w = this.active;
    if (!w) return;
    this.active = undefined;
    w.child.kill('SIGKILL');
    await w.exited;
    this.kills++;
  }

  /** SIGKILL the running worker `times` times, each after a random pause, starting it again each time. */
  async killRepeatedly(times: number, random: () => number, pause = { minMs: 200, spreadMs: 1500 }): Promise<void> {
    for (let i = 0; i < times; i++) {
      await new Promise((r) => setTimeout(r, pause.minMs + Math.floor(random() * pause.spreadMs)));
      await this.kill();
      await this.start();
    }
  }

  /** SIGTERM the running worker: resolves with its exit code. */
  async stop(): Promise<number | null> {
    const w = this.active;
    if (!w) return null;
    this.active = undefined;
    w.child.kill('SIGTERM');
    return w.exited;
  }

  async close(): Promise<void> {
    for (const w of [...this.standby.splice(0), ...(this.active ? [this.active] : [])]) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
    this.active = undefined;
  }
}
