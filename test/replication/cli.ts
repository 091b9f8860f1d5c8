/** Run the real `pgferry` binary (packages/cli/bin/pgferry.mjs) as a child process. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PGFERRY_BIN = fileURLToPath(new URL('../../packages/cli/bin/pgferry.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `pgferry ...args`, to its end. */
export function pgferry(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PGFERRY_BIN, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** `pgferry ...args` left running (a worker): its output is collected in `log()`. */
export function spawnPgferry(args: string[]): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [PGFERRY_BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, log: () => out, exited };
}
