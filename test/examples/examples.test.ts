/**
 * The examples, run as a user runs them (`tsx --conditions=source examples/<x>/main.ts`,
 * the command behind `pnpm example:<x>`), each a child process that starts its own embedded
 * servers and checks its own result: it must exit 0. One row per example.
 *
 * Not here: the demo (`pnpm demo`: 1.75 million rows, Chromium for its screenshot) and
 * examples/monitoring (Debian's prometheus), which no test runs at the time of writing, and
 * examples/replication (the demo's replication part on its own, a million rows by default).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

interface Example {
  /** The file a user runs (from the repository's root). */
  file: string;
  /** What its output must also say (its own checks decide the exit code). */
  output?: RegExp;
  timeoutMs: number;
}

const EXAMPLES: Example[] = [
  { file: 'examples/flows/main.ts', output: /every check passed/, timeoutMs: 240_000 },
  { file: 'examples/replay/main.ts', output: /replayed: .*equal/, timeoutMs: 240_000 },
  { file: 'examples/federation/main.ts', output: /total: (\d+) orders \(the shards hold \1\)/, timeoutMs: 240_000 },
  // Without PGFERRY_DB it starts its own server and makes up 25 signups first.
  { file: 'examples/batch-worker/worker.ts', output: /processed 25 signups; outbox has 25 mails/, timeoutMs: 120_000 },
];

function run(file: string, timeoutMs: number): Promise<{ code: number | null; signal: string | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PGFERRY_DB;
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['--conditions=source', file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Its servers go with it: the harness kills them when the example exits, also on SIGTERM.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs - 5_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('examples', () => {
  for (const e of EXAMPLES) {
    it(`${e.file} exits 0`, { timeout: e.timeoutMs }, async () => {
      const r = await run(e.file, e.timeoutMs);
      // The first lines say what failed (an uncaught error's header), the last how it ended.
      const lines = r.output.split('\n');
      const tail = lines.length > 70 ? [...lines.slice(0, 30), '...', ...lines.slice(-40)].join('\n') : r.output;
      expect(r.code, `${e.file} (signal ${r.signal}):\n${tail}`).toBe(0);
      if (e.output) expect(r.output, tail).toMatch(e.output);
    });
  }
});
