/**
 * The replicator's central claim under faults: a randomized workload on the provider
 * (inserts, bulk inserts, updates, deletes, key updates, upserts, truncates, in random
 * transactions, some rolled back) runs while tables are added, copied and replicated; the
 * worker (a child process) is killed with SIGKILL at random moments and restarted many
 * times (also during copies); the subscriber server crashes and the provider server is
 * stopped, each then started again. At
 * the end every replicated table is identical on both sides, row by row.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { getConsumerInfo } from '@pgferry/queue';
import { addTable, createLeafNode, createRootNode, getStatus, listTables } from '../../packages/replicator/src/index.js';
import { rng, startTwoServers, stopTwoServers, tableJson, waitFor, type TwoServers } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED = Number(process.env.PGFERRY_CHAOS_SEED ?? Date.now() % 100_000);
const DURATION_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class WorkerProcess {
  child: ChildProcess | undefined;
  log = '';
  kills = 0;
  starts = 0;
  copiesStarted = 0;
  copiesDone = 0;
  constructor(private readonly args: string[]) {}

  start(): void {
    this.starts++;
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'packages/replicator/src/bin.ts', 'worker', ...this.args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '' } },
    );
    const onData = (d: Buffer) => {
      const text = d.toString();
      this.copiesStarted += text.match(/ copying /g)?.length ?? 0;
      this.copiesDone += text.match(/ copied /g)?.length ?? 0;
      this.log = (this.log + d.toString()).slice(-30_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.kills++;
  }

  /** SIGTERM: resolves with the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return exited;
  }
}

describe(`replication under faults (seed ${SEED})`, () => {
  let env: TwoServers;
  let worker: WorkerProcess;

  beforeAll(async () => {
    env = await startTwoServers('repl-chaos');
    await env.provider.query(`
      CREATE TABLE acct (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2), updated timestamptz);
      INSERT INTO acct SELECT g, 'owner ' || g, g % 1000, '2024-01-01'::timestamptz + g * interval '1 minute'
        FROM generate_series(1, 150000) g;
      CREATE TABLE pairs (a int, b text, v int, note text, PRIMARY KEY (a, b));
      INSERT INTO pairs SELECT g % 400, chr(97 + g % 5), g, NULL FROM generate_series(1, 2000) g ON CONFLICT DO NOTHING;
      CREATE TABLE logs (k bigint NOT NULL, msg text);
      INSERT INTO logs SELECT g, 'log ' || g FROM generate_series(1, 5000) g;
      CREATE TABLE wide (id int PRIMARY KEY, x jsonb, y text[], z float8, w bytea, secret text);
      INSERT INTO wide SELECT g, jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'a"b')), ARRAY['x', g::text],
                              g / 7.0, decode(md5(g::text), 'hex'), 'hidden' FROM generate_series(1, 3000) g;
    `);
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
    worker = new WorkerProcess([
      '--provider', env.providerUrl, '--subscriber', env.subscriberUrl, '--node', 'leaf1',
      '--poll-ms', '50', '--retry-ms', '100', '--parallel-copies', '2',
    ]);
  });

  afterAll(async () => {
    await worker?.kill().catch(() => undefined);
    await stopTwoServers(env);
  });

  // 30 s of faults, then up to 120 s to converge (seconds alone; much more on a loaded machine).
  it('ends identical on both sides after kills and server restarts', { timeout: 240_000 }, async () => {
    const random = rng(SEED);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    let nextAcct = 1_000_000;
    let nextLog = 1_000_000;
    let nextWide = 100_000;
    let stopping = false;
    const stats = { commits: 0, rollbacks: 0, errors: 0 };

    const ops: ((c: pg.PoolClient) => Promise<unknown>)[] = [
      (c) => c.query(`INSERT INTO acct VALUES ($1, 'new', 1, now())`, [++nextAcct]),
      (c) => {
        const from = nextAcct + 1;
        nextAcct += 200;
        return c.query(`INSERT INTO acct SELECT g, 'bulk', g % 7, now() FROM generate_series($1::bigint, $2::bigint) g`, [from, nextAcct]);
      },
      (c) => c.query(`UPDATE acct SET balance = balance + 1, updated = now() WHERE id = $1`, [int(1, 30000)]),
      (c) => {
        const x = int(1, 30000);
        return c.query(`UPDATE acct SET owner = owner || '+' WHERE id BETWEEN $1 AND $1 + 30`, [x]);
      },
      (c) => c.query(`DELETE FROM acct WHERE id = $1`, [int(1, 30000)]),
      (c) => c.query(`UPDATE acct SET id = $1 WHERE id = $2`, [++nextAcct, int(1, 30000)]),
      (c) => c.query(`INSERT INTO pairs VALUES ($1, $2, 1, 'up') ON CONFLICT (a, b) DO UPDATE SET v = pairs.v + 1`, [int(0, 450), pick(['a', 'b', 'c', 'd', 'e', 'f'])]),
      (c) => c.query(`UPDATE pairs SET b = b || 'x' WHERE a = $1 AND b = $2`, [int(0, 450), pick(['a', 'b', 'c'])]),
      (c) => c.query(`DELETE FROM pairs WHERE a = $1`, [int(0, 450)]),
      (c) => c.query(`INSERT INTO logs VALUES ($1, 'live')`, [++nextLog]),
      (c) => c.query(`UPDATE logs SET msg = msg || '!' WHERE k = $1`, [int(1, 5000)]),
      (c) => c.query(`DELETE FROM logs WHERE k BETWEEN $1 AND $1 + 3`, [int(1, 5000)]),
      (c) => (random() < 0.15 ? c.query(`TRUNCATE logs`) : c.query(`UPDATE logs SET k = $1 WHERE k = $2`, [++nextLog, int(1, 5000)])),
      (c) => c.query(`INSERT INTO wide VALUES ($1, '{"a": [1, 2.50, null]}', '{q,"r s"}', 1e-300, '\\x00ff', 's')`, [++nextWide]),
      (c) => c.query(`UPDATE wide SET z = z * 2, x = x || '{"u": true}', secret = 'changed' WHERE id = $1`, [int(1, 3000)]),
      (c) => c.query(`UPDATE wide SET secret = 'only ignored column' WHERE id = $1`, [int(1, 3000)]),
      (c) => c.query(`DELETE FROM wide WHERE id = $1`, [int(1, 3000)]),
    ];

    const writer = async () => {
      while (!stopping) {
        let c: pg.PoolClient | undefined;
        try {
          c = await env.provider.connect();
          // A server stopped mid-transaction: reported by the next query, not thrown.
          if (c.listenerCount('error') === 0) c.on('error', () => undefined);
          await c.query('BEGIN');
          for (let i = int(1, 5); i > 0; i--) await pick(ops)(c);
          if (random() < 0.2) {
            await c.query('ROLLBACK');
            stats.rollbacks++;
          } else {
            await c.query('COMMIT');
            stats.commits++;
          }
          c.release();
        } catch {
          stats.errors++;
          if (c) {
            await c.query('ROLLBACK').catch(() => undefined);
            c.release(true);
          }
          await sleep(50);
        }
        await sleep(int(0, 5));
      }
    };

    const started = Date.now();
    worker.start();
    const writers = [writer(), writer(), writer()];
    const add = (o: Parameters<typeof addTable>[2]) => addTable(env.provider, env.subscriber, o);
    await add({ subscription: 'leaf1', table: 'acct', create: true });
    await add({ subscription: 'leaf1', table: 'pairs', create: true });

    // Faults on a schedule, worker kills at random moments in between.
    const schedule: [number, () => Promise<void>][] = [
      [3000, () => add({ subscription: 'leaf1', table: 'logs', create: true, keyColumns: ['k'], mode: 'row' }).then(() => undefined)],
      [6000, () => add({ subscription: 'leaf1', table: 'wide', create: true, ignoreColumns: ['secret'] }).then(() => undefined)],
      [11000, async () => {
        await env.subscriberServer.kill(); // a crash
        await sleep(1500);
        await env.subscriberServer.startAgain();
      }],
      [19000, async () => {
        await env.providerServer.stop();
        await sleep(1500);
        await env.providerServer.startAgain();
      }],
    ];
    while (Date.now() - started < DURATION_MS) {
      const due = schedule[0];
      if (due && Date.now() - started >= due[0]) {
        schedule.shift();
        await due[1]();
        continue;
      }
      await sleep(int(200, 1500));
      await worker.kill();
      if (random() < 0.5) await sleep(int(0, 500));
      worker.start();
    }
    stopping = true;
    await Promise.all(writers);
    expect(schedule).toEqual([]);

    // Duplicate keys on the provider's side: logs has none by construction, but check.
    const dup = await env.provider.query('SELECT count(*) - count(DISTINCT k) AS d FROM logs');
    expect(Number(dup.rows[0].d)).toBe(0);

    const compare = async () => {
      const tables = await listTables(env.subscriber, 'leaf1');
      if (tables.length !== 4 || tables.some((t) => t.state !== 'ok')) return false;
      return (
        (await tableJson(env.provider, 'acct')) === (await tableJson(env.subscriber, 'acct')) &&
        (await tableJson(env.provider, 'pairs', 'a, b')) === (await tableJson(env.subscriber, 'pairs', 'a, b')) &&
        (await tableJson(env.provider, 'logs', 'k')) === (await tableJson(env.subscriber, 'logs', 'k')) &&
        (await tableJson(env.provider, 'wide', 'id', 'id, x, y, z, w')) === (await tableJson(env.subscriber, 'wide', 'id', 'id, x, y, z, w'))
      );
    };
    try {
      await waitFor('both sides to be identical', compare, 120_000, 250);
    } catch (err) {
      const st = await getStatus(env.subscriber, 'leaf1', env.provider).catch((e: unknown) => String(e));
      console.error(JSON.stringify(st, null, 2), '\n--- worker log ---\n', worker.log.slice(-5000));
      throw err;
    }
    // No catch-up consumer is left behind to hold back the provider's queue rotation.
    await waitFor('only the main consumer on the queue', async () =>
      (await getConsumerInfo(env.provider, 'repl')).map((c) => c.consumerName).join() === 'leaf1',
    );
    const st = await getStatus(env.subscriber, 'leaf1', env.provider);
    for (const t of st.tables) {
      expect([t.source, t.missingUpdates, t.missingDeletes]).toEqual([t.source, 0, 0]);
    }
    expect(worker.kills).toBeGreaterThanOrEqual(5);
    expect(stats.commits).toBeGreaterThan(0);
    expect(stats.rollbacks).toBeGreaterThan(0);
    console.log(`seed ${SEED}: ${worker.kills} kills, ${worker.copiesStarted} copies started, ${worker.copiesDone} completed, ${stats.commits} commits, ${stats.rollbacks} rollbacks, ${stats.errors} failed transactions`);
    // Graceful stop.
    expect(await worker.stop()).toBe(0);
  });
});
