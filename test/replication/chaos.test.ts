/**
 * The replicator's central claim under faults: a randomized workload on the provider
 * (inserts, bulk inserts, updates, deletes, key updates, upserts, truncates, in random
 * transactions, some rolled back, three writers at once) runs while tables are added,
 * copied and replicated, and meanwhile:
 * - the worker (a child process) is SIGKILLed at random moments and started again, at
 *   least MIN_KILLS times (also during copies and catch-ups);
 * - backends of every kind the worker uses are terminated at random points (provider batch
 *   read, next_batch/finish_batch, copy on both sides, subscriber apply, the subscription
 *   lock, the ticker and maintenance);
 * - the worker's connections to each server go through a TCP proxy that drops them, stalls
 *   them (open, silent) and leaves them half-open;
 * - each server crashes or is stopped, and is started again.
 * At the end every replicated table is identical on both sides, row by row, and a worker
 * asked to stop while its subscriber connection is stalled exits.
 *
 * Replay a run with PGFERRY_CHAOS_SEED=<seed> (printed in the test name and at the end).
 */
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { getConsumerInfo } from '@pgferry/queue';
import { addTable, createLeafNode, createRootNode, getStatus, listTables } from '@pgferry/replicator';
import { TcpProxy } from '../harness/tcp-proxy.js';
import { rng, startTwoServers, stopTwoServers, tableJson, waitFor, type TwoServers } from './helpers.js';
import { WorkerProcess } from './worker-process.js';

const SEED = Number(process.env.PGFERRY_CHAOS_SEED ?? Date.now() % 100_000);
/** Worker SIGKILLs per run, at least. */
const MIN_KILLS = 100;
/** Worker processes loaded ahead (loading takes longer than a kill cycle on a busy machine). */
const STANDBY = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** PGFERRY_CHAOS_TRACE=file: the run's steps as they happen (a run that hangs says where). */
const trace = (line: string) => {
  if (process.env.PGFERRY_CHAOS_TRACE) appendFileSync(process.env.PGFERRY_CHAOS_TRACE, `${new Date().toISOString()} ${line}\n`);
};

/** Short bounds, so that stalls and half-open connections are noticed within a test. */
const TIMEOUTS = { connectMs: 3000, statementMs: 5000, queryMs: 6000, idleInTransactionMs: 15_000, keepAliveMs: 1000, copyStallMs: 5000 };

describe(`replication under faults (seed ${SEED})`, () => {
  let env: TwoServers;
  let worker: WorkerProcess;
  let copiesStarted = 0;
  let copiesDone = 0;
  let proxies: { provider: TcpProxy; subscriber: TcpProxy };

  beforeAll(async () => {
    env = await startTwoServers('repl-chaos');
    await env.provider.query(`
      CREATE TABLE acct (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2), updated timestamptz);
      INSERT INTO acct SELECT g, 'owner ' || g, g % 1000, '2024-01-01'::timestamptz + g * interval '1 minute'
        FROM generate_series(1, 60000) g;
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
    proxies = {
      provider: await TcpProxy.start(env.providerServer.port),
      subscriber: await TcpProxy.start(env.subscriberServer.port),
    };
    worker = new WorkerProcess({
      subscriptions: [{
        subscription: 'leaf1', provider: proxies.provider.url(env.providerUrl), subscriber: proxies.subscriber.url(env.subscriberUrl),
        pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 2000, parallelCopies: 2, timeouts: TIMEOUTS, stopTimeoutMs: 3000,
      }],
      tickIntervalMs: 100,
      timeouts: TIMEOUTS,
    }, {
      standby: STANDBY,
      onOutput: (text) => {
        copiesStarted += text.match(/ copying /g)?.length ?? 0;
        copiesDone += text.match(/ copied /g)?.length ?? 0;
      },
    });
  });

  afterAll(async () => {
    await worker?.close().catch(() => undefined);
    await Promise.allSettled([proxies?.provider.close(), proxies?.subscriber.close()]);
    await stopTwoServers(env);
  });

  // MIN_KILLS kill cycles (2 to 6 minutes, with the other faults meanwhile), then up to 300 s to
  // converge; much longer allowed for a machine shared with other work.
  it('ends identical on both sides after kills, terminated backends, cut connections and server restarts', { timeout: 1_500_000 }, async () => {
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
        await sleep(int(2, 30));
      }
    };

    const started = Date.now();
    trace(`seed ${SEED}`);
    await worker.start();
    const writers = [writer(), writer(), writer()];
    const add = (o: Parameters<typeof addTable>[2]) => addTable(env.provider, env.subscriber, o);
    await add({ subscription: 'leaf1', table: 'acct', create: true });
    await add({ subscription: 'leaf1', table: 'pairs', create: true });
    const faults = { kills: 0, terminated: new Map<string, number>(), network: new Map<string, number>(), restarts: [] as string[] };
    const count = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

    // Backends of the worker by what they run (the writers' and the test's queries excluded).
    const targets: [string, 'provider' | 'subscriber', string][] = [
      ['provider batch read', 'provider', '^SELECT ev_id'],
      ['provider next_batch/finish_batch', 'provider', 'pgferry\\.(next_batch|finish_batch|batch_event_sql)|batch_info'],
      ['provider copy', 'provider', '^COPY \\('],
      ['provider ticker/maintenance', 'provider', 'pgferry\\.(ticker|maint_operations|maint_|rotate)|advisory_lock\\(\\$1\\)'],
      ['subscriber apply', 'subscriber', '^(INSERT|UPDATE|DELETE|WITH|SAVEPOINT|RELEASE)|applied_tick'],
      ['subscriber copy', 'subscriber', '^COPY |^TRUNCATE'],
      ['subscriber lock', 'subscriber', 'pg_try_advisory_lock|^SELECT 1$'],
      ['any worker backend', 'subscriber', '.'],
    ];
    const terminate = async (side: 'provider' | 'subscriber', pattern: string): Promise<number> => {
      const { rows } = await env[side].query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND application_name <> 'pgferry-test' AND query ~ $1`,
        [pattern],
      );
      return rows[0]!.n;
    };
    let faulting = true;
    const backendKiller = (async () => {
      // Each kind in turn, at a random moment: watched for up to 1.5 s, so that the brief
      // ones (a batch read, a copy) are caught in the act too.
      for (let round = 0; faulting; round++) {
        await sleep(int(200, 1200));
        const [what, side, pattern] = targets[round % targets.length]!;
        let n = 0;
        for (let i = 0; i < 30 && n === 0 && faulting; i++) {
          n = await terminate(side, pattern).catch(() => 0);
          if (n === 0) await sleep(50);
        }
        if (n) count(faults.terminated, what, n);
        if (n) trace(`terminated ${what}: ${n}`);
      }
    })();
    // Stalls and half-open connections last past the worker's query bound now and then.
    const network = (async () => {
      while (faulting) {
        await sleep(int(1500, 5000));
        if (!faulting) break;
        const side = pick(['provider', 'subscriber'] as const);
        const proxy = proxies[side];
        const fault = pick(['drop', 'stall', 'half-open'] as const);
        count(faults.network, `${side} ${fault}`);
        trace(`${side} ${fault}`);
        if (fault === 'drop') {
          proxy.drop();
          continue;
        }
        if (fault === 'stall') proxy.stall();
        else proxy.halfOpen();
        await sleep(int(500, TIMEOUTS.queryMs + 2000));
        proxy.resume();
      }
    })();
    // Server restarts, each side crashed once and stopped once, at fractions of the kills.
    const restarts: [number, string, () => Promise<void>][] = [
      [0.2, 'subscriber crash', () => env.subscriberServer.kill()],
      [0.4, 'provider stop', () => env.providerServer.stop()],
      [0.6, 'provider crash', () => env.providerServer.kill()],
      [0.8, 'subscriber stop', () => env.subscriberServer.stop()],
    ];
    const tables: [number, () => Promise<unknown>][] = [
      [0.05, () => add({ subscription: 'leaf1', table: 'logs', create: true, keyColumns: ['k'], mode: 'row' })],
      [0.15, () => add({ subscription: 'leaf1', table: 'wide', create: true, ignoreColumns: ['secret'] })],
    ];

    while (worker.kills < MIN_KILLS) {
      const progress = worker.kills / MIN_KILLS;
      if (tables[0] && progress >= tables[0][0]) {
        await tables.shift()![1]();
        continue;
      }
      if (restarts[0] && progress >= restarts[0][0]) {
        const [, what, down] = restarts.shift()!;
        trace(what);
        const server = what.startsWith('provider') ? env.providerServer : env.subscriberServer;
        await down();
        await sleep(int(300, 1500));
        await server.startAgain();
        trace(`${what}: started again`);
        faults.restarts.push(what);
        continue;
      }
      // Mostly short lives, now and then one long enough for a copy to finish.
      await sleep(random() < 0.1 ? int(1500, 3000) : int(50, 700));
      await worker.kill();
      trace(`kill ${worker.kills}`);
      if (random() < 0.3) await sleep(int(0, 500));
      await worker.start();
    }
    faulting = false;
    trace('faults over');
    await Promise.all([backendKiller, network]);
    trace('fault loops ended');
    proxies.provider.resume();
    proxies.subscriber.resume();
    const faultSeconds = (Date.now() - started) / 1000;
    stopping = true;
    await Promise.all(writers);
    expect(restarts).toEqual([]);
    expect(tables).toEqual([]);

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
      await waitFor('both sides to be identical', compare, 300_000, 250);
      trace('identical');
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
    expect(worker.kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(faults.restarts).toHaveLength(4);
    expect([...faults.terminated.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(stats.commits).toBeGreaterThan(0);
    expect(stats.rollbacks).toBeGreaterThan(0);
    console.log(
      `seed ${SEED}: ${faultSeconds.toFixed(0)} s of faults: ${worker.kills} worker SIGKILLs, backends terminated ${JSON.stringify(Object.fromEntries(faults.terminated))}, ` +
        `network faults ${JSON.stringify(Object.fromEntries(faults.network))}, server restarts ${faults.restarts.join(', ')}; ` +
        `${copiesStarted} copies started, ${copiesDone} completed; ${stats.commits} commits, ${stats.rollbacks} rollbacks, ${stats.errors} failed transactions; ` +
        `converged in ${((Date.now() - started) / 1000 - faultSeconds).toFixed(0)} s`,
    );
    // A stop asked while the subscriber connection is stalled still ends the process, gracefully.
    proxies.subscriber.stall();
    await sleep(300);
    expect(await worker.stop()).toBe(0);
    proxies.subscriber.resume();
  });
});
