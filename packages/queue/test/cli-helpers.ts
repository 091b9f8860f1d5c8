/** Run the real `pgferry` binary (@pgferry/cli's bin/pgferry.mjs) as a child process. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../cli/bin/pgferry.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `pgferry ...args`; PG* and PGFERRY_DB variables are cleared unless given in `env`. */
export function pgferry(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^PG/.test(k)));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, env: { ...base, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Run and parse stdout as JSON (fails the test with stderr if the command failed). */
export async function pgferryJson<T = unknown>(args: string[], env?: Record<string, string>): Promise<T> {
  const r = await pgferry([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`pgferry ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
