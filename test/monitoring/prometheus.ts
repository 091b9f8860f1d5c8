/**
 * A real Prometheus for tests: Debian's `prometheus` binary, started on a loopback port with
 * a temporary storage directory and a config written here, stopped by the test. Tools that
 * are missing fail the test with what to install (CI installs them: .ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The path of a Prometheus tool on PATH; throws with what to install when it is missing. */
export function requireTool(name: 'prometheus' | 'promtool'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new Error(
      `${name} is not installed: the monitoring tests run the real one. ` +
        `Install Debian's "prometheus" package (apt-get install -y prometheus; .ci/run does it in CI).`,
    );
  }
  return path;
}

/** Run promtool; its exit status and output (stdout and stderr together). */
export function promtool(args: string[], cwd?: string): { status: number | null; output: string } {
  const r = spawnSync(requireTool('promtool'), args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface ScrapeTarget {
  job: string;
  /** host:port serving /metrics. */
  address: string;
}

/** One series of a query result: its labels and its values ([unix seconds, text]). */
export interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}

export interface RuleInfo {
  name: string;
  query: string;
  type: 'alerting' | 'recording';
  health: string;
  lastError?: string;
  state?: string;
}

export class Prometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly log: () => string,
  ) {}

  /** Start Prometheus scraping `targets` every second, evaluating `ruleFiles` every second. */
  static async start(options: { targets: ScrapeTarget[]; ruleFiles?: string[] }): Promise<Prometheus> {
    const bin = requireTool('prometheus');
    const dir = mkdtempSync(join(tmpdir(), 'pgferry-prometheus-'));
    // JSON is YAML: no YAML writer needed.
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: options.targets.map((t) => ({ job_name: t.job, static_configs: [{ targets: [t.address] }] })),
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const port = await freePort();
    let output = '';
    const child = spawn(
      bin,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const p = new Prometheus(`http://127.0.0.1:${port}`, child, dir, () => output);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) {
        p.cleanup();
        throw new Error(`prometheus exited with status ${child.exitCode}:\n${output}`);
      }
      const ready = await fetch(`${p.url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) return p;
      if (Date.now() > deadline) {
        await p.stop();
        throw new Error(`prometheus did not become ready in 30 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async api<T>(path: string, params: Record<string, string | string[]>): Promise<T> {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) search.append(k, x);
    const res = await fetch(`${this.url}/api/v1/${path}?${search}`);
    const json = (await res.json()) as ApiResponse<T>;
    if (json.status !== 'success') throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${json.errorType}: ${json.error}`);
    return json.data;
  }

  /** An instant query: its vector (throws on a query error or a non-vector result). */
  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const data = await this.api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(
      'query',
      { query: expr },
    );
    if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not a vector`);
    return data.result;
  }

  /** A range query from `start` to `end` (unix seconds), one point a second. */
  async queryRange(expr: string, start: number, end: number): Promise<Series[]> {
    const data = await this.api<{ resultType: string; result: Series[] }>('query_range', {
      query: expr,
      start: String(start),
      end: String(end),
      step: '1',
    });
    if (data.resultType !== 'matrix') throw new Error(`${expr}: a ${data.resultType}, not a matrix`);
    return data.result;
  }

  /** The label sets of the series matching `selector` between `start` and `end`. */
  series(selector: string, start: number, end: number): Promise<Record<string, string>[]> {
    return this.api('series', { 'match[]': selector, start: String(start), end: String(end) });
  }

  /** The loaded rules, as Prometheus parsed them, with their last evaluation's health. */
  async rules(): Promise<RuleInfo[]> {
    const data = await this.api<{ groups: { rules: RuleInfo[] }[] }>('rules', {});
    return data.groups.flatMap((g) => g.rules);
  }

  /** The scrape targets and whether their last scrape worked. */
  async targets(): Promise<{ job: string; health: string; lastError: string }[]> {
    const data = await this.api<{ activeTargets: { labels: { job: string }; health: string; lastError: string }[] }>('targets', {});
    return data.activeTargets.map((t) => ({ job: t.labels.job, health: t.health, lastError: t.lastError }));
  }

  /** Prometheus' own output so far (for failure messages). */
  output(): string {
    return this.log();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.cleanup();
  }

  private cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
