/**
 * scale-tables: many captured and replicated tables on one node (issue 14). For each count
 * in BENCH_SCALE_TABLES (default 100 and 1,000 tables of 100 rows each), on two servers:
 * - add-table: the time per table of `addTable` (capture triggers, subscriber table created);
 * - the initial copies of all of them by one worker (its default parallel copies);
 * - `status` (getStatus of the subscription, with the provider): median of 5 calls;
 * - apply: BENCH_SCALE_TABLE_CHANGES inserts (default 100,000) in transactions of 1,000 rows,
 *   once all into one table (concentrated) and once one row into each of 1,000 tables per
 *   transaction (spread, round robin over all tables); the worker is stopped while they are
 *   made and timed from its start to the last tick applied. The ratio is spread / concentrated:
 *   what it costs that the same changes touch every table.
 * No target in the issue beyond "report figures and how they grow".
 */
import { ReplicationWorker, addTable, createLeafNode, createRootNode, getStatus, listTables } from '@pgferry/replicator';
import { forceTick } from '@pgferry/queue';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import type { BenchDatabase } from '../lib/server.js';
import { median } from '../lib/stats.js';
import { waitFor } from './apply.js';

const COUNTS = (process.env.BENCH_SCALE_TABLES ?? '100,1000').split(',').map(Number);
const ROWS = 100;
const CHANGES = Number(process.env.BENCH_SCALE_TABLE_CHANGES ?? 100_000);
const PER_TX = 1000;

const name = (i: number) => `t_${String(i).padStart(4, '0')}`;

interface Figures {
  tables: number;
  addTableMs: number;
  copyAllMs: number;
  statusMs: number;
  concentrated: number;
  spread: number;
}

async function appliedTick(sub: BenchDatabase): Promise<bigint> {
  const { rows } = await sub.pool.query<{ t: string | null }>(`SELECT at_tick_id::text AS t FROM pgferry.applied_tick WHERE at_subscription = 'leaf1'`);
  return BigInt(rows[0]?.t ?? 0);
}

async function measure(ctx: BenchContext, tables: number): Promise<Figures> {
  const prov = await (await ctx.server()).database(`scale_tables_${tables}_p`, { install: false });
  const sub = await (await ctx.secondServer()).database(`scale_tables_${tables}_s`, { install: false });
  const worker = () => new ReplicationWorker({ subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url }] });
  let w: ReplicationWorker | undefined;
  try {
    await prov.pool.query(`DO $$ BEGIN FOR i IN 1..${tables} LOOP
      EXECUTE format('CREATE TABLE t_%s (id int PRIMARY KEY, v int NOT NULL, note text)', lpad(i::text, 4, '0'));
      EXECUTE format('INSERT INTO t_%s SELECT g, g, ''row '' || g FROM generate_series(1, ${ROWS}) g', lpad(i::text, 4, '0'));
    END LOOP; END $$`);
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });

    ctx.log(`scale-tables: add-table x ${tables} ...`);
    let t0 = performance.now();
    for (let i = 1; i <= tables; i++) await addTable(prov.pool, sub.pool, { subscription: 'leaf1', table: name(i), create: true });
    const addTableMs = (performance.now() - t0) / tables;

    ctx.log(`scale-tables: copying ${tables} tables ...`);
    t0 = performance.now();
    w = worker().start();
    await waitFor('the copies', 1_800_000, async () => (await listTables(sub.pool, 'leaf1')).every((t) => t.state === 'ok'));
    const copyAllMs = performance.now() - t0;

    const statusTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await getStatus(sub.pool, 'leaf1', prov.pool);
      statusTimes.push(performance.now() - s);
    }

    // Apply: the changes made with the worker stopped, then timed from its start.
    const applyRate = async (statement: (tx: number) => string): Promise<number> => {
      await w?.stop();
      w = undefined;
      for (let tx = 0; tx < CHANGES / PER_TX; tx++) await prov.pool.query(statement(tx));
      const end = BigInt(await forceTick(prov.pool, 'repl'));
      await sub.settle();
      const s = performance.now();
      w = worker().start();
      await waitFor('the changes applied', 1_800_000, async () => (await appliedTick(sub)) >= end);
      return CHANGES / ((performance.now() - s) / 1000);
    };
    let next = ROWS;
    const concentrated = await applyRate(() => {
      const from = next + 1;
      next += PER_TX;
      return `INSERT INTO t_0001 SELECT g, g, 'new' FROM generate_series(${from}, ${next}) g`;
    });
    // One row into each of PER_TX tables per transaction, round robin over all of them.
    let id = 1_000_000;
    const spread = await applyRate((tx) => {
      const rows = Array.from({ length: PER_TX }, (_, k) => `INSERT INTO ${name(((tx * PER_TX + k) % tables) + 1)} VALUES (${++id}, 0, 'new')`);
      return `DO $$ BEGIN ${rows.join('; ')}; END $$`;
    });
    return { tables, addTableMs, copyAllMs, statusMs: median(statusTimes), concentrated, spread };
  } finally {
    await w?.stop().catch(() => undefined);
    await prov.drop().catch(() => undefined);
    await sub.drop().catch(() => undefined);
  }
}

export const scaleTables: BenchCase = {
  name: 'scale-tables',
  summary: `${COUNTS.join(', ')} replicated tables on one node: add-table, copies, status, apply of ${CHANGES.toLocaleString('en-US')} inserts spread over every table vs into one`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const rows: ResultRow[] = [];
    for (const tables of COUNTS) {
      const f = await measure(ctx, tables);
      ctx.log(`scale-tables ${tables}: ${JSON.stringify(f)}`);
      rows.push({
        case: `scale-tables (${tables.toLocaleString('en-US')} tables)`,
        status: 'measured',
        unit: 'changes/s',
        rate: f.spread,
        baseline: f.concentrated,
        ratio: f.spread / f.concentrated,
        target: 'report',
        met: null,
        runs: 1,
        scale: CHANGES,
        notes: [
          `add-table ${f.addTableMs.toFixed(1)} ms per table; copies of all ${tables} tables (${ROWS} rows each) ${(f.copyAllMs / 1000).toFixed(1)} s; status ${f.statusMs.toFixed(0)} ms`,
          `apply: ${CHANGES} inserts in transactions of ${PER_TX}: into one table ${Math.round(f.concentrated).toLocaleString('en-US')}/s (baseline), one row into each of ${Math.min(PER_TX, tables)} tables per transaction ${Math.round(f.spread).toLocaleString('en-US')}/s`,
        ],
        detail: { ...f },
      });
    }
    return rows;
  },
};
