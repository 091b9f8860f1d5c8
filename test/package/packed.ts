/**
 * The packages as a user gets them: `pnpm build` (the root script), `pnpm pack` of each
 * package, and a fresh project outside the workspace that installs the tarballs with plain
 * `npm install`. Used by install.test.ts.
 *
 * Why pnpm pack and not npm pack: the packages depend on each other as `workspace:*`, a
 * pnpm protocol. `pnpm pack` writes the packed package.json with each one replaced by the
 * version of the workspace package (`"@pgferry/queue": "0.1.0"`), as `pnpm publish` does;
 * `npm pack` copies package.json as it is, and `npm install` of such a tarball fails on
 * `workspace:*` (EUNSUPPORTEDPROTOCOL). The tarballs are still plain npm packages: npm
 * installs them, their third-party dependencies come from the registry, and the
 * `@pgferry/*` ones are met by the tarballs installed alongside.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The published packages, in dependency order. */
export const PACKAGES = ['sql', 'queue', 'replicator', 'cli'] as const;
export type PackageDir = (typeof PACKAGES)[number];

const rootManifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { packageManager: string };
/** pnpm as the repository pins it (packageManager), run through npx as the README does. */
const PNPM = ['--yes', rootManifest.packageManager.split('+')[0]!];

/** npm's cache for the fresh project: kept between runs (PGFERRY_NPM_CACHE to move it). */
export const NPM_CACHE = process.env.PGFERRY_NPM_CACHE ?? path.join(tmpdir(), 'pgferry-npm-cache');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: none of what pnpm and vitest set for this run (npm_*
 * settings, NODE_OPTIONS) nor PG* connection variables. The registry setting is kept (a
 * mirror configured for CI).
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PG|NODE_OPTIONS$|VITEST|TSX)/i.test(k) && k.toLowerCase() !== 'npm_config_registry') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Run a command to its end (never throws: the result says how it went). */
export function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: options.cwd, env: options.env ?? userEnv(), timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** `run`, failing with the command's output when it does not exit 0. */
export async function runOk(cmd: string, args: string[], options: Parameters<typeof run>[2]): Promise<Run> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${options.cwd}) exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** `pnpm build` at the root: every package's dist/, from a clean slate (tsc leaves the output of deleted sources). */
export async function buildPackages(): Promise<void> {
  for (const p of PACKAGES) await rm(path.join(ROOT, 'packages', p, 'dist'), { recursive: true, force: true });
  await runOk('npx', [...PNPM, 'build'], { cwd: ROOT, env: userEnv(), timeoutMs: 600_000 });
}

/** `pnpm pack` of each package into `dir`: the tarballs' paths by package. */
export async function packPackages(dir: string): Promise<Record<PackageDir, string>> {
  const out = {} as Record<PackageDir, string>;
  for (const p of PACKAGES) {
    const before = new Set(readdirSync(dir));
    await runOk('npx', [...PNPM, 'pack', '--pack-destination', dir], { cwd: path.join(ROOT, 'packages', p), env: userEnv() });
    const made = readdirSync(dir).filter((f) => !before.has(f) && f.endsWith('.tgz'));
    if (made.length !== 1) throw new Error(`pnpm pack of packages/${p} made ${made.join(', ') || 'nothing'}`);
    out[p] = path.join(dir, made[0]!);
  }
  return out;
}

/** A fresh ESM project in a temporary directory, with the tarballs installed by `npm install`. */
export async function installIntoFreshProject(tarballs: string[]): Promise<string> {
  const app = mkdtempSync(path.join(tmpdir(), 'pgferry-user-'));
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'pgferry-user', private: true, type: 'module' }, null, 2));
  mkdirSync(NPM_CACHE, { recursive: true });
  await runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--cache', NPM_CACHE, ...tarballs], {
    cwd: app,
    env: userEnv(),
    timeoutMs: 300_000,
  });
  return app;
}

/** Every file under `dir`, relative to it, sorted. */
export function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/** A long-running command (a worker) with its output collected. */
export function spawnIn(cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, log: () => out, exited };
}
