/**
 * Installable like a real package: `pnpm build`, `pnpm pack` of each package (see
 * packed.ts for why pnpm's pack), and a fresh project outside the workspace that runs
 * `npm install <tarballs>`. Then, against the run's real PostgreSQL, only through what
 * was installed: `npx pgferry --help`, `install` and `version`; the README's producer and
 * consumer as a plain Node ESM program; the replicator's CLI (create-root, create-leaf,
 * add-table, and its worker copying and streaming a table); and `tsc --noEmit` on a
 * TypeScript user's file importing the packages.
 */
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { waitFor } from '../replication/helpers.js';
import { buildPackages, filesUnder, installIntoFreshProject, packPackages, PACKAGES, ROOT, run, runOk, spawnIn, userEnv, type PackageDir } from './packed.js';

const MINUTE = 60_000;
const manifest = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string };
const repoPackage = (p: PackageDir) => path.join(ROOT, 'packages', p);
const VERSION = manifest(repoPackage('sql')).version;

describe('the packages, packed and installed with npm into a fresh project', () => {
  const db = useTestDatabase({ install: false });
  const subscriber = useTestDatabase({ install: false });
  let app = '';
  let packs = '';
  let tarballs = {} as Record<PackageDir, string>;
  const installed = (p: PackageDir) => path.join(app, 'node_modules', '@pgferry', p);
  /** The installed `pgferry`, as a user runs it: `npx pgferry ...` (--no: never from the registry). */
  const pgferry = (args: string[], env: Record<string, string> = {}) => run('npx', ['--no', '--', 'pgferry', ...args], { cwd: app, env: userEnv(env) });

  beforeAll(async () => {
    await buildPackages();
    packs = mkdtempSync(path.join(tmpdir(), 'pgferry-packs-'));
    tarballs = await packPackages(packs);
    app = await installIntoFreshProject(PACKAGES.map((p) => tarballs[p]));
  }, 15 * MINUTE);
  afterAll(async () => {
    for (const dir of [app, packs]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs the four packages from their tarballs, at one version, with what each needs at run time and no sources', () => {
    const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; resolved?: string }> };
    for (const p of PACKAGES) {
      const m = manifest(installed(p)) as { name: string; version: string; dependencies?: Record<string, string> };
      expect(m.name).toBe(`@pgferry/${p}`);
      expect(m.version).toBe(VERSION);
      // workspace:* became the version; each @pgferry dependency is the tarball, not the registry's.
      for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
        expect(range, `${m.name} -> ${dep}`).not.toMatch(/^workspace:/);
        if (dep.startsWith('@pgferry/')) expect(range).toBe(VERSION);
      }
      expect(lock.packages[`node_modules/@pgferry/${p}`]?.resolved).toMatch(/^file:.*\.tgz$/);
      expect(existsSync(path.join(installed(p), 'dist', 'index.js')) || p === 'cli').toBe(true);
      // The launcher runs src/ when it is there: an installed package must not have it, nor
      // an export condition that points there.
      expect(existsSync(path.join(installed(p), 'src')), `@pgferry/${p} ships src/`).toBe(false);
      expect(JSON.stringify(m), `@pgferry/${p} package.json`).not.toContain('./src/');
    }
    // Every file of the SQL layer, the queue's statements, monitoring files and console
    // assets, and the replicator's migrations and statements, as in the repository.
    const same = (p: PackageDir, dir: string) => expect(filesUnder(path.join(installed(p), dir)), `@pgferry/${p} ${dir}/`).toEqual(filesUnder(path.join(repoPackage(p), dir)));
    same('sql', 'sql');
    same('queue', 'sql');
    same('queue', 'monitoring');
    same('queue', 'console');
    same('replicator', 'sql');
    expect(filesUnder(path.join(installed('queue'), 'monitoring'))).toEqual(
      expect.arrayContaining(['grafana-dashboard.json', 'postgres-exporter-queries.yaml', 'prometheus-alerts.yaml']),
    );
    expect(filesUnder(path.join(installed('replicator'), 'sql'))).toEqual(expect.arrayContaining(['migrations/001_state.sql', 'queries/status.sql']));
    // The psql install script the build writes.
    expect(readFileSync(path.join(installed('sql'), 'dist', 'pgferry.sql'), 'utf8')).toContain('CREATE OR REPLACE FUNCTION pgferry.version()');
    expect(readdirSync(path.join(app, 'node_modules', '.bin'))).toEqual(expect.arrayContaining(['pgferry', 'pgferry-replicate']));
  });

  it('every entry point loads in plain Node, also for a project that resolves the "source" condition itself', async () => {
    const entries = ['@pgferry/sql', '@pgferry/queue', '@pgferry/queue/metrics', '@pgferry/queue/daemon', '@pgferry/queue/console', '@pgferry/queue/cli', '@pgferry/replicator', '@pgferry/replicator/cli'];
    const script = `for (const e of ${JSON.stringify(entries)}) await import(e); console.log('loaded');`;
    // --conditions=source is how this repository runs its TypeScript (and many monorepos
    // theirs): the packed exports must not send it to a src/ that is not shipped.
    for (const flags of [[], ['--conditions=source']]) {
      const r = await run(process.execPath, [...flags, '--input-type=module', '-e', script], { cwd: app });
      expect(r.stderr, flags.join(' ')).toBe('');
      expect(r.stdout).toBe('loaded\n');
    }
  });

  it('npx pgferry: --help, install and version against a real PostgreSQL', async () => {
    const help = await pgferry(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pgferry');
    expect(help.stdout).toMatch(/^ {2}install\b/m);
    expect(help.stdout).toMatch(/^ {2}replicate\b/m);
    expect((await pgferry(['--cli-version'])).stdout.trim()).toBe(VERSION);

    const missing = await pgferry(['queue', 'list', '--db', db.url]);
    expect(missing.code).toBe(4);

    const inst = await pgferry(['install'], { PGFERRY_DB: db.url });
    expect(inst.stderr).toBe('');
    expect(inst.code).toBe(0);
    expect(inst.stdout).toMatch(new RegExp(`^pgferry ${VERSION.replace(/\./g, '\\.')} installed \\(migrations applied: 1, `));

    const version = await pgferry(['version', '--json', '--db', db.url]);
    expect(version.code).toBe(0);
    const v = JSON.parse(version.stdout) as { cli: string; installed: string; migrations: { id: number }[]; pendingMigrations: number[] };
    expect(v).toMatchObject({ cli: VERSION, installed: VERSION, pendingMigrations: [] });
    const shipped = readdirSync(path.join(installed('sql'), 'sql', 'migrations')).map((f) => Number(f.slice(0, 3)));
    expect(v.migrations.map((m) => m.id)).toEqual(shipped);
  }, 3 * MINUTE);

  it("the README's producer and consumer, as a plain Node ESM program", async () => {
    writeFileSync(
      path.join(app, 'orders.mjs'),
      `import pg from 'pg';
import { install } from '@pgferry/sql';
import { Producer, Consumer, Ticker, createQueue, registerConsumer } from '@pgferry/queue';

const pool = new pg.Pool({ connectionString: process.env.PGFERRY_DB });
await install(pool);
await createQueue(pool, 'orders');
await registerConsumer(pool, 'orders', 'billing');
await pool.query('CREATE TABLE invoice (order_id int PRIMARY KEY, amount numeric NOT NULL)');
const ticker = new Ticker({ connectionString: process.env.PGFERRY_DB }).start();

const producer = new Producer(pool, { queue: 'orders' });
const client = await pool.connect();
for (const [id, outcome] of [[1, 'COMMIT'], [2, 'ROLLBACK']]) {
  await client.query('BEGIN');
  await producer.insert('order', { id, amount: 9.5 }, { client });
  await client.query(outcome);
}
client.release();
await producer.insertMany([3, 4, 5].map((id) => ({ type: 'order', payload: { id, amount: id } })));

const consumer = new Consumer(pool, { queue: 'orders', name: 'billing' });
const seen = [];
const stop = new AbortController();
const timeout = setTimeout(() => stop.abort(), 60_000);
await consumer.run(async (batch) => {
  for await (const ev of batch.events()) {
    seen.push(ev.payload.id);
    await batch.client.query('INSERT INTO invoice VALUES ($1, $2)', [ev.payload.id, ev.payload.amount]);
  }
  if (seen.length >= 4) stop.abort();
}, { signal: stop.signal });
clearTimeout(timeout);
await consumer.close();
await ticker.stop();
const { rows } = await pool.query('SELECT order_id, amount::float8 AS amount FROM invoice ORDER BY order_id');
await pool.end();
console.log(JSON.stringify({ seen, invoices: rows }));
`,
    );
    const r = await runOk(process.execPath, ['orders.mjs'], { cwd: app, env: userEnv({ PGFERRY_DB: db.url }), timeoutMs: 2 * MINUTE });
    const out = JSON.parse(r.stdout) as { seen: number[]; invoices: { order_id: number; amount: number }[] };
    expect(out.seen.sort()).toEqual([1, 3, 4, 5]);
    expect(out.invoices).toEqual([
      { order_id: 1, amount: 9.5 },
      { order_id: 3, amount: 3 },
      { order_id: 4, amount: 4 },
      { order_id: 5, amount: 5 },
    ]);
  }, 3 * MINUTE);

  describe("the replicator's CLI", () => {
    let worker: ReturnType<typeof spawnIn> | undefined;
    afterAll(async () => {
      worker?.child.kill('SIGTERM');
      await worker?.exited;
    });

    it('create-root, create-leaf, add-table, and a worker that copies the table and streams changes', async () => {
      const help = await pgferry(['replicate', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Usage: pgferry replicate');
      expect(help.stdout).toMatch(/^ {2}create-leaf\b/m);
      const alias = await run('npx', ['--no', '--', 'pgferry-replicate', '--help'], { cwd: app });
      expect(alias.stdout).toBe(help.stdout);

      await db.pool.query('CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL)');
      await db.pool.query(`INSERT INTO accounts SELECT g, 'owner ' || g, g * 10 FROM generate_series(1, 500) g`);
      const side = ['--provider', db.url, '--subscriber', subscriber.url, '--node', 'leaf1'];
      for (const args of [
        ['replicate', 'create-root', '--provider', db.url, '--node', 'root', '--queue', 'repl'],
        ['replicate', 'create-leaf', ...side],
        ['replicate', 'add-table', ...side, 'public.accounts', '--create'],
      ]) {
        const r = await pgferry(args);
        expect(r.stderr, args.join(' ')).toBe('');
        expect(r.code, args.join(' ')).toBe(0);
      }
      const tables = await pgferry(['replicate', 'tables', '--subscriber', subscriber.url, '--node', 'leaf1', '--json']);
      expect(JSON.parse(tables.stdout)).toEqual([expect.objectContaining({ source: 'public.accounts', dest: 'public.accounts', state: 'in-copy' })]);

      // The replicator's schema is reported where it is installed (the subscriber).
      const version = JSON.parse((await pgferry(['version', '--json', '--db', subscriber.url])).stdout) as {
        components: { replicator: { installed: boolean; migrations: { id: number }[]; pendingMigrations: number[] } };
      };
      const shipped = readdirSync(path.join(installed('replicator'), 'sql', 'migrations')).map((f) => Number(f.slice(0, 3)));
      expect(version.components.replicator).toMatchObject({ installed: true, pendingMigrations: [] });
      expect(version.components.replicator.migrations.map((m) => m.id)).toEqual(shipped);
      const upgrade = await pgferry(['upgrade', '--json', '--db', subscriber.url]);
      expect(upgrade.stderr).toBe('');
      expect(JSON.parse(upgrade.stdout)).toMatchObject({ appliedMigrations: [], components: { replicator: { appliedMigrations: [] } } });

      const config = path.join(app, 'replicate.json');
      writeFileSync(
        config,
        JSON.stringify({
          subscriptions: [{ subscription: 'leaf1', provider: db.url, subscriber: subscriber.url, pollIntervalMs: 50 }],
          tickIntervalMs: 50,
          metrics: { port: 0, host: '127.0.0.1' },
        }),
      );
      // The bin npx runs, started directly so that SIGTERM reaches the worker itself.
      const w = spawnIn(app, path.join(app, 'node_modules', '.bin', 'pgferry'), ['replicate', 'worker', '--config', config], userEnv());
      worker = w;
      onTestFailed(() => console.error(`worker log:\n${w.log()}`));
      const rows = async (pool: typeof db.pool) =>
        JSON.stringify((await pool.query('SELECT id, owner, balance::text FROM accounts ORDER BY id')).rows);
      await waitFor('the copy', async () => (await subscriber.pool.query(`SELECT to_regclass('public.accounts') IS NOT NULL AS t`)).rows[0].t && (await rows(subscriber.pool)) === (await rows(db.pool)), 2 * MINUTE);

      await db.pool.query(`BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id <= 10; DELETE FROM accounts WHERE id = 500; INSERT INTO accounts VALUES (501, 'new', 0); COMMIT`);
      await waitFor('the changes', async () => (await rows(subscriber.pool)) === (await rows(db.pool)), 2 * MINUTE);

      // Its metrics endpoint answers /healthz (what the Kubernetes probes of deploy/ ask).
      const port = /serving metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(w.log())?.[1];
      expect(port).toBeDefined();
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      worker = undefined;
    }, 5 * MINUTE);
  });

  it('types resolve for a TypeScript user (tsc --noEmit, strict, NodeNext)', async () => {
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        // skipLibCheck as most projects have it (checking every library's .d.ts costs ~20 s):
        // user.ts imports pg itself, so types missing for it (no @types/pg) still fail.
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true },
        files: ['user.ts'],
      }),
    );
    writeFileSync(
      path.join(app, 'user.ts'),
      `import pg from 'pg';
import { install, type InstallResult } from '@pgferry/sql';
import { Producer, Consumer, Ticker, createQueue, registerConsumer, schemaVersion, QueueNotFoundError } from '@pgferry/queue';
import { createMetricsRegistry } from '@pgferry/queue/metrics';
import { installReplication } from '@pgferry/replicator';

const pool = new pg.Pool({ connectionString: process.env.PGFERRY_DB });
const installed: InstallResult = await install(pool);
const latest: number | undefined = installed.applied[0];
await createQueue(pool, 'orders');
await registerConsumer(pool, 'orders', 'billing');
const ticker: Ticker = new Ticker({ connectionString: process.env.PGFERRY_DB });
const producer = new Producer(pool, { queue: 'orders' });
const id: string = await producer.insert('order', { id: 42, amount: 9.5 });
const consumer = new Consumer(pool, { queue: 'orders', name: 'billing' });
await consumer.run(async (batch) => {
  for await (const ev of batch.events()) await batch.client.query('SELECT $1::bigint', [ev.id]);
}, { untilIdle: true });
const v = await schemaVersion(pool);
const names: string[] = v.migrations.map((m) => m.name);
const e: Error = new QueueNotFoundError('orders');
createMetricsRegistry;
await installReplication(pool);
// The types are real, not any: each line below is an error, and tsc says so.
// @ts-expect-error queue is a string
new Consumer(pool, { queue: 42, name: 'billing' });
// @ts-expect-error insert takes a type name first
await producer.insert({ id: 1 });
// @ts-expect-error applied is a number[]
const wrong: string[] = installed.applied;
export { latest, ticker, id, names, e, wrong };
`,
    );
    const tsc = createRequire(path.join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 2 * MINUTE);
});
