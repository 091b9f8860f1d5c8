/**
 * apply-merge: the federation apply (a table with a merge column: every statement limited to
 * the source's rows, inserts skipping keys of other sources) against the plain row apply,
 * the same captured changes (BENCH_APPLY_CHANGES, default 1,000,000: 50% inserts, 30%
 * updates, 20% deletes, distinct keys) applied by two leaves of one provider queue into two
 * subscriber tables of the same definition, one of them with the merge column. Each run
 * resets both tables and positions to the tick before the changes, as the apply case does.
 */
import pg from 'pg';
import { forceTick, registerConsumerAt } from '@pgferry/queue';
import { ReplicationWorker, addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import { CHANGES, DELETES, INITIAL, INSERTS, ROW, TABLE, UPDATES, waitFor } from './apply.js';

const LEAVES = { plain: 'accounts_plain', merged: 'accounts_merged' } as const;

async function appliedTick(db: pg.Pool, leaf: string): Promise<bigint> {
  const { rows } = await db.query<{ t: string | null }>(`SELECT at_tick_id::text AS t FROM pgferry.applied_tick WHERE at_subscription = $1`, [leaf]);
  return BigInt(rows[0]?.t ?? 0);
}

export const applyMerge: BenchCase = {
  name: 'apply-merge',
  summary: `federation apply (merge column) vs the plain row apply of the same ${CHANGES.toLocaleString('en-US')} captured changes`,
  async run(ctx: BenchContext): Promise<ResultRow[]> {
    const prov = await (await ctx.server()).database('merge_provider', { install: false });
    const sub = await (await ctx.secondServer()).database('merge_subscriber', { install: false });
    const worker = (leaf: keyof typeof LEAVES) => new ReplicationWorker({ subscriptions: [{ subscription: leaf, provider: prov.url, subscriber: sub.url }] });
    try {
      await prov.pool.query(`CREATE TABLE accounts ${TABLE}`);
      await prov.pool.query(`INSERT INTO accounts ${ROW('1', String(INITIAL))}`);
      await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
      for (const leaf of ['plain', 'merged'] as const) {
        await createLeafNode(prov.pool, sub.pool, { node: leaf });
        await addTable(prov.pool, sub.pool, { subscription: leaf, table: 'accounts', dest: LEAVES[leaf], create: true, mergeColumn: leaf === 'merged' ? 'source' : undefined });
      }
      ctx.log(`apply-merge: initial copies of ${INITIAL.toLocaleString('en-US')} rows ...`);
      const both = new ReplicationWorker({ subscriptions: (['plain', 'merged'] as const).map((l) => ({ subscription: l, provider: prov.url, subscriber: sub.url })) }).start();
      await waitFor('the copies', 600_000, async () => (await Promise.all(['plain', 'merged'].map((l) => listTables(sub.pool, l)))).flat().every((t) => t.state === 'ok'));
      const startTick = await forceTick(prov.pool, 'repl');
      await waitFor('both at the start tick', 600_000, async () => (await appliedTick(sub.pool, 'plain')) >= BigInt(startTick) && (await appliedTick(sub.pool, 'merged')) >= BigInt(startTick));
      await both.stop();
      for (const t of Object.values(LEAVES)) await sub.pool.query(`CREATE TABLE ${t}_before AS SELECT * FROM ${t}`);

      ctx.log(`apply-merge: capturing ${CHANGES.toLocaleString('en-US')} changes ...`);
      await prov.pool.query(`INSERT INTO accounts ${ROW(String(INITIAL + 1), String(INITIAL + INSERTS))}`);
      await forceTick(prov.pool, 'repl');
      await prov.pool.query(`UPDATE accounts SET qty = qty + 1, note = 'updated' WHERE id <= ${UPDATES}`);
      await forceTick(prov.pool, 'repl');
      await prov.pool.query(`DELETE FROM accounts WHERE id > ${UPDATES} AND id <= ${INITIAL}`);
      const endTick = BigInt(await forceTick(prov.pool, 'repl'));

      const applyOnce = (leaf: keyof typeof LEAVES) => async () => {
        const t = LEAVES[leaf];
        await sub.pool.query('BEGIN');
        await sub.pool.query(`TRUNCATE ${t}`);
        await sub.pool.query(`INSERT INTO ${t} SELECT * FROM ${t}_before`);
        await sub.pool.query(`UPDATE pgferry.applied_tick SET at_tick_id = $1 WHERE at_subscription = $2`, [startTick, leaf]);
        await sub.pool.query('COMMIT');
        await registerConsumerAt(prov.pool, 'repl', leaf, startTick);
        await sub.settle();
        await prov.settle();
        let w: ReplicationWorker | undefined;
        const r = await sub.rateWithCpu(CHANGES, async () => {
          w = worker(leaf).start();
          await waitFor(`${leaf} at the end tick`, 600_000, async () => (await appliedTick(sub.pool, leaf)) >= endTick);
        }, [prov]);
        await w!.stop();
        const { rows } = await sub.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t}`);
        if (Number(rows[0]!.n) !== INITIAL + INSERTS - DELETES) throw new Error(`${t} has ${rows[0]!.n} rows, expected ${INITIAL + INSERTS - DELETES}`);
        return r;
      };
      const p = await pairedRates(ctx, 'apply-merge', ctx.runs, applyOnce('plain'), { merged: applyOnce('merged') });
      return [
        ratioRow('apply-merge', 'merged', p, 0.8, 'changes/s', {
          scale: CHANGES,
          notes: [
            `${INSERTS} inserts + ${UPDATES} updates + ${DELETES} deletes on distinct keys, 3 source transactions/ticks, ReplicationWorker defaults`,
            'baseline: the plain row apply of the same changes into a table of the same definition without the merge column (another leaf of the same queue)',
            'merged: updates and deletes also match the source, inserts skip keys held by another source (an anti-join on the key index)',
          ],
        }),
      ];
    } finally {
      await prov.drop().catch(() => undefined);
      await sub.drop().catch(() => undefined);
    }
  },
};

