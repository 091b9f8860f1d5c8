/**
 * `pgferry replicate ...` through the real binary (bin/pgferry.mjs, and the
 * pgferry-replicate alias): --help with examples on every command, one-line errors and the
 * exit codes 0/1/2/3/4, the worker's config checked with the path of every error.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';

const BIN = fileURLToPath(new URL('../bin/pgferry.mjs', import.meta.url));
const ALIAS = fileURLToPath(new URL('../bin/pgferry-replicate.mjs', import.meta.url));

function run(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
const pgferry = (args: string[]) => run(BIN, args);

const COMMANDS = ['create-root', 'create-leaf', 'drop-leaf', 'add-table', 'handlers', 'remove-table', 'resync', 'tables', 'status', 'worker'];

describe('pgferry replicate', () => {
  const db = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });

  it('has --help with examples on every command, and is listed by pgferry --help', async () => {
    const top = await pgferry(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/\n {2}replicate +trigger replication/);
    for (const cmd of COMMANDS) {
      const help = await pgferry(['replicate', cmd, '--help']);
      expect(help.code, cmd).toBe(0);
      expect(help.stdout, cmd).toContain(`Usage: pgferry replicate ${cmd} [options]`);
      expect(help.stdout, cmd).toMatch(new RegExp(`Examples:\\n {2}\\$ pgferry replicate ${cmd} `));
    }
    const add = await pgferry(['replicate', 'add-table', '--help']);
    for (const option of ['--provider <url>', '--subscriber <url>', '--node <name>', '--dest <table>', '--handler <name>', '--handler-arg <key=value>', '--config <file>']) {
      expect(add.stdout).toContain(option);
    }
  });

  it('refuses a bad command line with one line and exit code 2', async () => {
    const bad = await pgferry(['replicate', 'add-table', '--provider', 'postgres://p', '--subscriber', 'postgres://s', '--node', 'leaf1', '--bogus', 't']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toBe("pgferry: unknown option '--bogus' (add --help for usage)\n");
    const arg = await pgferry(['replicate', 'add-table', 't', '--provider', 'postgres://p', '--subscriber', 'postgres://s', '--node', 'leaf1', '--handler-arg', 'novalue']);
    expect(arg.code).toBe(2);
    expect(arg.stderr).toMatch(/^pgferry: .*'--handler-arg <key=value>' argument 'novalue' is invalid\. expected key=value/);
    const missing = await pgferry(['replicate', 'tables', '--node', 'leaf1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--subscriber <url>' not specified");
    const status = await pgferry(['replicate', 'status', '--node', 'leaf1']);
    expect(status).toMatchObject({ code: 2, stderr: 'pgferry: status needs --subscriber and --node (or --cascade --provider)\n' });
    const worker = await pgferry(['replicate', 'worker']);
    expect(worker.code).toBe(2);
    expect(worker.stderr).toBe('pgferry: give --config FILE, or --provider, --subscriber and --node (see pgferry replicate worker --help)\n');
  });

  it('exits 3 when it cannot connect, naming the side', async () => {
    const r = await pgferry(['--connect-timeout', '2000', 'replicate', 'tables', '--subscriber', 'postgres://pgferry@127.0.0.1:1/nowhere', '--node', 'leaf1']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^pgferry: cannot connect to subscriber 127\.0\.0\.1:1\/nowhere: /);
  });

  it('exits 4 when pgferry is not installed, 1 for an unknown leaf; create-root and create-leaf with --json', async () => {
    const leafFirst = await pgferry(['replicate', 'create-leaf', '--provider', db.url, '--subscriber', sub.url, '--node', 'leaf1']);
    expect(leafFirst.code).toBe(4);
    expect(leafFirst.stdout).toBe('');
    expect(leafFirst.stderr).toBe('pgferry: pgferry is not installed in this database; install it with `pgferry install`\n');

    const status = await pgferry(['replicate', 'status', '--subscriber', sub.url, '--node', 'leaf1', '--json']);
    expect(status).toMatchObject({ code: 1, stdout: '' });
    expect(status.stderr).toBe('pgferry: the subscriber database has no leaf or branch node "leaf1" (create it with create-leaf or create-branch)\n');

    const root = await pgferry(['replicate', 'create-root', '--provider', db.url, '--node', 'root', '--json']);
    expect(root.code).toBe(0);
    expect(JSON.parse(root.stdout)).toMatchObject({ name: 'root', type: 'root', queue: 'root' });
    const leaf = await pgferry(['replicate', 'create-leaf', '--provider', db.url, '--subscriber', sub.url, '--node', 'leaf1']);
    expect(leaf).toMatchObject({ code: 0, stdout: 'leaf node leaf1 of root (queue root)\n', stderr: '' });
  });

  it('add-table refuses an unknown handler (exit 1) and a handler module that cannot load (exit 2) before changing anything', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-cli-'));
    await db.pool.query('CREATE TABLE src (id int PRIMARY KEY, v text)');
    const base = ['replicate', 'add-table', 'src', '--provider', db.url, '--subscriber', sub.url, '--node', 'leaf1', '--create'];
    const unknown = await pgferry([...base, '--handler', 'nosuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^pgferry: no handler named "nosuch" \(known handlers: row[,;]/);

    writeFileSync(path.join(dir, 'broken.mjs'), 'export default { description: "no create" };\n');
    const config = path.join(dir, 'worker.json');
    writeFileSync(config, JSON.stringify({ subscriptions: [{ subscription: 'leaf1', provider: db.url, subscriber: sub.url }], handlers: { broken: './broken.mjs' } }));
    const broken = await pgferry([...base, '--handler', 'broken', '--config', config]);
    expect(broken.code).toBe(2);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(broken.stderr).toContain(`handlers.broken: module ${path.join(dir, 'broken.mjs')} (handler "broken") exports no handler`);

    expect((await sub.pool.query(`SELECT to_regclass('public.src') AS t`)).rows[0].t).toBeNull();
    const tables = await pgferry(['replicate', 'tables', '--subscriber', sub.url, '--node', 'leaf1', '--json']);
    expect(JSON.parse(tables.stdout)).toEqual([]);
  });

  it('worker: a bad config exits 2 with the path of every error', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-cli-'));
    const config = path.join(dir, 'worker.json');
    writeFileSync(
      config,
      JSON.stringify({
        subscriptions: [
          { subscription: 'a', provider: 'postgres://p', subscriber: 'postgres://s', parallelCopies: 0 },
          { subscription: 'a', provider: 'postgres://p', subscriber: 'postgres://s', retryMinMs: 900, retryMaxMs: 100 },
        ],
        handlers: { 'bad name': './x.js' },
        metrics: { port: 70000 },
        bogus: true,
      }),
    );
    const r = await pgferry(['replicate', 'worker', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`pgferry: invalid config ${config}:`);
    const problems = lines.slice(1).map((l) => l.trim().split(':')[0]);
    expect(problems.sort()).toEqual(['(top)', 'handlers.bad name', 'metrics.port', 'subscriptions.0.parallelCopies', 'subscriptions.1.retryMaxMs', 'subscriptions.1.subscription'].sort());

    writeFileSync(config, '{ "subscriptions": "oops" }');
    const notList = await pgferry(['replicate', 'worker', '--config', config]);
    expect(notList.code).toBe(2);
    expect(notList.stderr).toMatch(/\n {2}subscriptions: Invalid input: expected array/);

    writeFileSync(config, '{ "subscriptions": [');
    const json = await pgferry(['replicate', 'worker', '--config', config]);
    expect(json.code).toBe(2);
    expect(json.stderr).toContain('not valid JSON');

    writeFileSync(config, JSON.stringify({ subscriptions: [{ subscription: 'a', provider: 'postgres://p', subscriber: 'postgres://s' }], handlers: { gone: './gone.mjs' } }));
    const gone = await pgferry(['replicate', 'worker', '--config', config]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`handlers.gone: cannot load handler "gone" from ${path.join(dir, 'gone.mjs')}`);
  });

  it('pgferry-replicate is an alias of pgferry replicate', async () => {
    const help = await run(ALIAS, ['status', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pgferry replicate status [options]');
    const bad = await run(ALIAS, ['tables', '--node', 'x']);
    expect(bad.code).toBe(2);
  });
});
