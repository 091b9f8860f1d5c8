/**
 * A randomized write load for cascade tests: inserts, bulk inserts, updates, deletes, key
 * updates, upserts and truncates in random transactions (some rolled back), several writers
 * at once, on three tables, plus an append-only `ledger` whose rows each subscriber must see
 * inserted exactly once (audited there by a trigger: see auditLedger). Writes that fail (a
 * server stopped, a queue closed for a switchover) are counted, and the writer goes on.
 */
import type pg from 'pg';
import { addTable, listTables } from '@pgferry/replicator';
import { rng, startReplication, waitFor, type Replication } from './helpers.js';

export const WORKLOAD_SCHEMA = `
  CREATE TABLE acct (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2), updated timestamptz);
  INSERT INTO acct SELECT g, 'owner ' || g, g % 1000, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 5000) g;
  CREATE TABLE pairs (a int, b text, v int, note text, PRIMARY KEY (a, b));
  INSERT INTO pairs SELECT g % 400, chr(97 + g % 5), g, NULL FROM generate_series(1, 2000) g ON CONFLICT DO NOTHING;
  CREATE TABLE logs (k bigint PRIMARY KEY, msg text);
  INSERT INTO logs SELECT g, 'log ' || g FROM generate_series(1, 2000) g;
  CREATE TABLE ledger (id bigint PRIMARY KEY, writer int NOT NULL, note text);
`;

export const WORKLOAD_TABLES = ['acct', 'pairs', 'logs', 'ledger'] as const;

/** Order columns of each workload table (for comparisons). */
export const ORDER_BY: Record<(typeof WORKLOAD_TABLES)[number], string> = { acct: 'id', pairs: 'a, b', logs: 'k', ledger: 'id' };

/**
 * On a subscriber: every insert and update applied to `ledger` is recorded in
 * `ledger_audit`. The provider only ever inserts ledger rows, so a row inserted twice or
 * updated means a change applied twice.
 */
export const AUDIT_LEDGER = `
  CREATE TABLE ledger_audit (id bigint NOT NULL, op text NOT NULL);
  CREATE FUNCTION ledger_audit() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO ledger_audit VALUES (NEW.id, TG_OP); RETURN NULL; END $$;
  CREATE TRIGGER ledger_audit AFTER INSERT OR UPDATE ON ledger FOR EACH ROW EXECUTE FUNCTION ledger_audit();
`;

/** Ledger rows applied more than once, or updated, on a subscriber (empty: none). */
export async function ledgerDuplicates(db: pg.Pool): Promise<unknown[]> {
  const { rows } = await db.query(
    `SELECT id, array_agg(op) AS ops FROM ledger_audit GROUP BY id HAVING count(*) > 1 OR bool_or(op <> 'INSERT') LIMIT 10`,
  );
  return rows;
}

export interface WorkloadStats {
  commits: number;
  rollbacks: number;
  errors: number;
}

export class Workload {
  readonly stats: WorkloadStats = { commits: 0, rollbacks: 0, errors: 0 };
  private stopping = false;
  private running: Promise<void>[] = [];
  private nextAcct = 1_000_000;
  private nextLog = 1_000_000;
  private nextLedger = 0;
  private readonly random: () => number;

  /** `db()`: the pool writes go to (it may change: a switchover moves the writers). */
  constructor(
    private readonly db: () => pg.Pool,
    seed: number,
  ) {
    this.random = rng(seed);
  }

  start(writers = 3): this {
    for (let i = 0; i < writers; i++) this.running.push(this.writer(i));
    return this;
  }

  async stop(): Promise<WorkloadStats> {
    this.stopping = true;
    await Promise.all(this.running);
    return this.stats;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  private op(c: pg.PoolClient, writer: number): Promise<unknown> {
    const pick = this.int(0, 11);
    switch (pick) {
      case 0:
        return c.query(`INSERT INTO acct VALUES ($1, 'new', 1, now())`, [++this.nextAcct]);
      case 1: {
        const from = this.nextAcct + 1;
        this.nextAcct += 100;
        return c.query(`INSERT INTO acct SELECT g, 'bulk', g % 7, now() FROM generate_series($1::bigint, $2::bigint) g`, [from, this.nextAcct]);
      }
      case 2:
        return c.query(`UPDATE acct SET balance = balance + 1, updated = now() WHERE id = $1`, [this.int(1, 5000)]);
      case 3:
        return c.query(`DELETE FROM acct WHERE id = $1`, [this.int(1, 5000)]);
      case 4:
        return c.query(`UPDATE acct SET id = $1 WHERE id = $2`, [++this.nextAcct, this.int(1, 5000)]);
      case 5:
        return c.query(`INSERT INTO pairs VALUES ($1, $2, 1, 'up') ON CONFLICT (a, b) DO UPDATE SET v = pairs.v + 1`, [this.int(0, 450), 'abcdef'[this.int(0, 5)]]);
      case 6:
        return c.query(`UPDATE pairs SET b = b || 'x' WHERE a = $1 AND b = $2`, [this.int(0, 450), 'abc'[this.int(0, 2)]]);
      case 7:
        return c.query(`DELETE FROM pairs WHERE a = $1`, [this.int(0, 450)]);
      case 8:
        return this.random() < 0.1 ? c.query(`TRUNCATE logs`) : c.query(`INSERT INTO logs VALUES ($1, 'live')`, [++this.nextLog]);
      case 9:
        return c.query(`UPDATE logs SET k = $1 WHERE k = $2`, [++this.nextLog, this.int(1, 2000)]);
      default:
        return c.query(`INSERT INTO ledger VALUES ($1, $2, 'w')`, [++this.nextLedger * 10 + writer, writer]);
    }
  }

  private async writer(i: number): Promise<void> {
    while (!this.stopping) {
      let c: pg.PoolClient | undefined;
      try {
        c = await this.db().connect();
        if (c.listenerCount('error') === 0) c.on('error', () => undefined);
        await c.query('BEGIN');
        for (let n = this.int(1, 4); n > 0; n--) await this.op(c, i);
        if (this.random() < 0.2) {
          await c.query('ROLLBACK');
          this.stats.rollbacks++;
        } else {
          await c.query('COMMIT');
          this.stats.commits++;
        }
        c.release();
      } catch {
        this.stats.errors++;
        if (c) {
          await c.query('ROLLBACK').catch(() => undefined);
          c.release(true);
        }
        await new Promise((r) => setTimeout(r, 30));
      }
      await new Promise((r) => setTimeout(r, this.int(2, 25)));
    }
  }
}

/**
 * Two servers replicating the workload's tables (root -> leaf1), copied and handed over;
 * the worker's log lines go to `log` (printed by a failing test).
 */
export async function startWorkloadReplication(name: string, log: string[]): Promise<Replication> {
  const r = await startReplication(name, {
    worker: { log: (level, message) => log.push(`${new Date().toISOString()} ${level} ${message}`) },
    prepare: async (env) => {
      await env.provider.query(WORKLOAD_SCHEMA);
      for (const table of WORKLOAD_TABLES) await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table, create: true });
    },
  });
  await waitFor('tables copied', async () => (await listTables(r.subscriber, 'leaf1')).every((t) => t.state === 'ok'));
  return r;
}
