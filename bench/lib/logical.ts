/**
 * The two-server setup of the cases that compare pgferry with native logical replication
 * (e2e-insert, e2e-update, tpcb): two embedded servers started with `wal_level = logical`,
 * the only setting changed from the defaults and the same for both systems, each system in
 * its own pair of databases (pgferry is installed only in its own, the publication exists
 * only in native's).
 *
 * Each system runs only during its own measurements, so that neither pays for the other's
 * idle work: pgferry's worker (defaults: its ticker every 100 ms, woken by ticks) is
 * started before and stopped after; native's subscription is created before (after the
 * first, `copy_data = false`: both sides hold the same rows already) and dropped after,
 * which also drops its slot, so no walsender decodes the other system's WAL.
 */
import pg from 'pg';
import { forceTick } from '@pgferry/queue';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, listTables, type SubscriptionStats } from '@pgferry/replicator';
import { BenchServer, type BenchDatabase } from './server.js';
import { nowMs } from './stats.js';

/**
 * Diagnostic knobs (where the time goes), unset by default: the worker's main-stream poll
 * interval and its tickers' check interval. Figures measured with them are not the
 * defaults' and the notes say so.
 */
const FERRY_POLL_MS = process.env.BENCH_FERRY_POLL_MS ? Number(process.env.BENCH_FERRY_POLL_MS) : undefined;
const FERRY_TICK_MS = process.env.BENCH_FERRY_TICK_MS ? Number(process.env.BENCH_FERRY_TICK_MS) : undefined;

/** How the pgferry worker ran, for the notes. */
export function ferrySettingsText(): string {
  const changed = [
    ...(FERRY_TICK_MS !== undefined ? [`tickIntervalMs ${FERRY_TICK_MS}`] : []),
    ...(FERRY_POLL_MS !== undefined ? [`pollIntervalMs ${FERRY_POLL_MS}`] : []),
  ];
  return changed.length
    ? `ReplicationWorker NOT at its defaults (${changed.join(', ')}: BENCH_FERRY_* knobs), otherwise defaults (queue ticker defaults, fetchSize 2000)`
    : 'ReplicationWorker defaults (its ticker checks every 100 ms with the queue\'s default ticker settings; the main stream wakes on the tick NOTIFY and asks its ticker for a round when it finds no batch, polling every 200 ms at most; fetchSize 2000)';
}

/** The one setting both servers change: logical decoding needs it (pgferry does not). */
export const LOGICAL_SETTINGS: Record<string, string> = { wal_level: 'logical' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `intervalMs` until it holds; throws after `timeoutMs`. */
export async function pollUntil(what: string, timeoutMs: number, intervalMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (!(await check())) {
    if (nowMs() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export class LogicalPair {
  private readonly databases: BenchDatabase[] = [];
  private constructor(
    readonly provider: BenchServer,
    readonly subscriber: BenchServer,
  ) {}

  /** `extra`: diagnostic settings of both servers (the notes say so). */
  static async start(label: string, extra: Record<string, string> = {}): Promise<LogicalPair> {
    const [p, s] = await Promise.all([
      BenchServer.start(`pgferry-bench-${label}-pub`, { ...LOGICAL_SETTINGS, ...extra }),
      BenchServer.start(`pgferry-bench-${label}-sub`, { ...LOGICAL_SETTINGS, ...extra }),
    ]);
    return new LogicalPair(p, s);
  }

  /** Both servers' data directories (for CPU meters), provider first. */
  get dataDirs(): string[] {
    return [this.provider.server.dataDir, this.subscriber.server.dataDir];
  }

  /** A new database on one side (pgferry not installed: a root or leaf node installs it); destroy() ends its pool. */
  async database(side: 'provider' | 'subscriber', prefix: string): Promise<BenchDatabase> {
    const d = await this[side].database(prefix, { install: false, poolSize: 4 });
    this.databases.push(d);
    return d;
  }

  async destroy(): Promise<void> {
    await Promise.allSettled(this.databases.map((d) => d.pool.end()));
    await Promise.all([this.provider.destroy(), this.subscriber.destroy()]);
  }
}

/** One replicated pair of databases, whichever the system. */
export interface ReplicationSystem {
  readonly label: 'native' | 'pgferry';
  readonly provider: BenchDatabase;
  readonly subscriber: BenchDatabase;
  /** Start replicating and return once it streams and is caught up. */
  start(): Promise<void>;
  /** Stop (after the caller saw its last change applied). */
  stop(): Promise<void>;
}

/**
 * Native logical replication: `CREATE PUBLICATION ... FOR TABLE` on the provider,
 * `CREATE SUBSCRIPTION` with its defaults on the subscriber (PostgreSQL 17: streaming off,
 * synchronous_commit off, binary off).
 */
export class NativeReplication implements ReplicationSystem {
  readonly label = 'native';
  private synced = false;

  constructor(
    readonly provider: BenchDatabase,
    readonly subscriber: BenchDatabase,
    private readonly tables: string[],
    readonly name = 'bench_native',
  ) {}

  async publish(): Promise<void> {
    const id = (x: string) => pg.escapeIdentifier(x);
    await this.provider.pool.query(`CREATE PUBLICATION ${id(this.name)} FOR TABLE ${this.tables.map(id).join(', ')}`);
  }

  /**
   * The first start copies the tables (the initial sync); later ones only stream (the rows
   * are there already). Returns when every table is ready, the apply worker runs and the
   * provider's walsender streams.
   */
  async start(): Promise<void> {
    const id = pg.escapeIdentifier;
    await this.subscriber.pool.query(
      `CREATE SUBSCRIPTION ${id(this.name)} CONNECTION ${pg.escapeLiteral(this.provider.url)} PUBLICATION ${id(this.name)} WITH (copy_data = ${this.synced ? 'false' : 'true'})`,
    );
    await pollUntil(`subscription ${this.name} ready`, 900_000, 50, async () => {
      const { rows } = await this.subscriber.pool.query<{ pending: number; workers: number }>(
        `SELECT (SELECT count(*) FROM "pg_catalog"."pg_subscription_rel" r JOIN "pg_catalog"."pg_subscription" s ON s."oid" = r."srsubid"
                  WHERE s."subname" = $1 AND r."srsubstate" <> 'r')::int AS pending,
                (SELECT count(*) FROM "pg_catalog"."pg_stat_subscription"
                  WHERE "subname" = $1 AND "relid" IS NULL AND "pid" IS NOT NULL)::int AS workers`,
        [this.name],
      );
      return rows[0]!.pending === 0 && rows[0]!.workers === 1;
    });
    await pollUntil(`the walsender of ${this.name} streaming`, 60_000, 50, async () => {
      const { rows } = await this.provider.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "pg_catalog"."pg_stat_replication" WHERE "application_name" = $1 AND "state" = 'streaming'`,
        [this.name],
      );
      return rows[0]!.n === 1;
    });
    this.synced = true;
  }

  async stop(): Promise<void> {
    await this.subscriber.pool.query(`DROP SUBSCRIPTION ${pg.escapeIdentifier(this.name)}`);
  }
}

/**
 * pgferry: a root node on the provider, a leaf on the subscriber, the tables added (their
 * subscriber tables created from the provider's, copied by the worker), and a
 * ReplicationWorker with its defaults (a ticker on each database every 100 ms, the queue's
 * default ticker settings, the main stream woken by the tick NOTIFY, fetchSize 2000).
 */
export class FerryReplication implements ReplicationSystem {
  readonly label = 'pgferry';
  private worker: ReplicationWorker | undefined;

  constructor(
    readonly provider: BenchDatabase,
    readonly subscriber: BenchDatabase,
    private readonly tables: string[],
    readonly subscription = 'leaf1',
    readonly queue = 'repl',
  ) {}

  async setup(): Promise<void> {
    await createRootNode(this.provider.pool, { node: 'root', queue: this.queue });
    await createLeafNode(this.provider.pool, this.subscriber.pool, { node: this.subscription });
    for (const table of this.tables) {
      await addTable(this.provider.pool, this.subscriber.pool, { subscription: this.subscription, table, create: true });
    }
  }

  /** Start the worker; returns once every table is copied and a tick made now is applied. */
  async start(): Promise<void> {
    this.worker = new ReplicationWorker({
      subscriptions: [
        {
          subscription: this.subscription,
          provider: this.provider.url,
          subscriber: this.subscriber.url,
          ...(FERRY_POLL_MS !== undefined ? { pollIntervalMs: FERRY_POLL_MS } : {}),
        },
      ],
      ...(FERRY_TICK_MS !== undefined ? { tickIntervalMs: FERRY_TICK_MS } : {}),
    }).start();
    await pollUntil('the initial copies', 900_000, 50, async () =>
      (await listTables(this.subscriber.pool, this.subscription)).every((t) => t.state === 'ok'),
    );
    const tick = BigInt(await forceTick(this.provider.pool, this.queue));
    await pollUntil(`tick ${tick} applied`, 600_000, 20, async () => ((await this.appliedTick()) ?? 0n) >= tick);
  }

  async stop(): Promise<void> {
    await this.worker?.stop();
    this.worker = undefined;
  }

  async appliedTick(): Promise<bigint | null> {
    const { rows } = await this.subscriber.pool.query<{ t: string | null }>(
      `SELECT "at_tick_id"::text AS t FROM "pgferry"."applied_tick" WHERE "at_subscription" = $1`,
      [this.subscription],
    );
    return rows[0]?.t ? BigInt(rows[0].t) : null;
  }

  /** The worker's counters (batches, events, applied), for the notes. */
  stats(): SubscriptionStats | undefined {
    return this.worker?.stats()[0];
  }
}

/** Flush both servers' dirty buffers before a measurement (the same for every system). */
export async function settleBoth(a: BenchDatabase, b: BenchDatabase): Promise<void> {
  await Promise.all([a.settle(), b.settle()]);
}
