/**
 * The benchmark's PostgreSQL: one embedded server per run with DEFAULT settings (fsync on,
 * synchronous_commit on; never the test harness's TEST_SETTINGS), a fresh database per case.
 */
import pg from 'pg';
import { PgServer } from '@pgferry/test/pg-server';
import { install } from '@pgferry/sql';
import { CpuMeter, type CpuSample } from './cpu.js';

/** Server settings the benchmark passes: none, so every figure is for a stock server. */
export const BENCH_SERVER_SETTINGS: Record<string, string | number> = {};

/** Settings reported with the results (what the figures depend on). */
const REPORTED_SETTINGS = [
  'server_version',
  'fsync',
  'synchronous_commit',
  'full_page_writes',
  'wal_level',
  'shared_buffers',
  'work_mem',
  'max_wal_size',
  'checkpoint_timeout',
  'jit',
];

export class BenchServer {
  private dbCount = 0;
  private constructor(readonly server: PgServer) {}

  /** `settings`: none (the default); a case that needs one (logical replication) says so in its notes. */
  static async start(name = 'pgferry-bench', settings: Record<string, string | number> = BENCH_SERVER_SETTINGS): Promise<BenchServer> {
    return new BenchServer(await PgServer.start({ name, settings }));
  }

  /** A new database (pgferry installed unless `install: false`). The caller ends the pool. */
  async database(prefix: string, options: { install?: boolean; poolSize?: number } = {}): Promise<BenchDatabase> {
    const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${++this.dbCount}`;
    const url = await this.server.createDatabase(name);
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
    pool.on('error', () => undefined);
    if (options.install !== false) await install(pool);
    return new BenchDatabase(this, name, url, pool);
  }

  async settings(): Promise<Record<string, string>> {
    const c = new pg.Client({ connectionString: this.server.url() });
    await c.connect();
    try {
      const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
        'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name',
        [REPORTED_SETTINGS],
      );
      return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]));
    } finally {
      await c.end();
    }
  }

  async destroy(): Promise<void> {
    await this.server.destroy();
  }
}

export class BenchDatabase {
  constructor(
    readonly owner: BenchServer,
    readonly name: string,
    readonly url: string,
    readonly pool: pg.Pool,
  ) {}

  /**
   * Time `fn` (wall clock, and CPU of this process + this database's server + the servers
   * of `others`); returns ops/s and CPU µs per op.
   */
  async rateWithCpu(
    ops: number,
    fn: () => Promise<unknown>,
    others: BenchDatabase[] = [],
  ): Promise<{ rate: number; cpuUsPerOp: number; sample: CpuSample }> {
    const dirs = [this, ...others].map((d) => d.owner.server.dataDir);
    const sample = await new CpuMeter(dirs).measure(fn);
    return { rate: ops / (sample.wallMs / 1000), cpuUsPerOp: (sample.cpuMs * 1000) / ops, sample };
  }

  /** A dedicated connection the caller must end. */
  async connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.url });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  /**
   * Flush dirty buffers before a measurement so that a checkpoint caused by the previous
   * step's WAL does not land inside the next one (same treatment for both sides).
   */
  async settle(): Promise<void> {
    await this.pool.query('CHECKPOINT');
  }

  async drop(): Promise<void> {
    await this.pool.end();
    await this.owner.server.dropDatabase(this.name);
  }
}
