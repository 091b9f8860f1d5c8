/** The pgferry-replicate command line (bin/pgferry-replicate.mjs as a child process): help and usage errors. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/pgferry-replicate.mjs', import.meta.url));

function replicate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('pgferry-replicate', () => {
  it('add-table --help lists its options and an example', async () => {
    const help = await replicate(['add-table', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pgferry-replicate add-table [options] <table>');
    for (const option of ['--provider <url>', '--subscriber <url>', '--node <name>', '--dest <table>', '--columns <a,b>', '--key <a,b>', '--ignore <a,b>', '--filter <sql>', '--mode <mode>', '--create', '--json']) {
      expect(help.stdout).toContain(option);
    }
    expect(help.stdout).toMatch(/Examples:\n {2}\$ pgferry-replicate add-table --provider /);
  });

  it('refuses an unknown option with one line and exit code 2', async () => {
    const bad = await replicate(['add-table', '--provider', 'postgres://p', '--subscriber', 'postgres://s', '--node', 'leaf1', '--bogus', 't']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain("pgferry-replicate: unknown option '--bogus'");
  });
});
