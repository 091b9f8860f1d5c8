/**
 * e2e-insert, e2e-update: end-to-end replication of ONE source transaction of 1,000,000
 * rows (BENCH_E2E_ROWS) — an INSERT ... SELECT of all of them, or an UPDATE of all of them —
 * from its commit on the provider until all its rows are on the subscriber, pgferry (root +
 * leaf, a ReplicationWorker with its defaults, whose ticker runs with the Ticker's defaults)
 * against native logical replication (CREATE PUBLICATION / CREATE SUBSCRIPTION, defaults),
 * between the same two servers started with wal_level = logical (lib/logical.ts).
 *
 * Ratio = native time / pgferry time (commit -> subscriber). "On the subscriber" is seen by
 * polling one row every 10 ms (the last inserted key; the first row's new value): both
 * systems apply a source transaction in one subscriber transaction, so one row shows all;
 * the count is checked afterwards. The provider statement's own time (where capture
 * triggers cost) is reported next to it.
 *
 * For pgferry every run also says where the time went, from the provider's tick and
 * position log and the subscriber's applied_tick (server clock, the same machine): commit
 * -> the first tick whose snapshot sees the transaction -> the batch opened (next_batch) ->
 * the subscriber transaction began -> its rows visible -> finish_batch. One more pgferry
 * run, not counted in the ratio, samples the sessions (lib/waits.ts) to split the subscriber
 * transaction between reading the batch, applying and Node (BENCH_E2E_PROFILE=0: skipped).
 */
import { readFileSync } from 'node:fs';
import type { BenchCase, BenchContext, ResultRow, Sample } from '../lib/runner.js';
import { pairedRates, ratioRow } from '../lib/runner.js';
import { CpuSplitMeter } from '../lib/cpu.js';
import { FerryReplication, LogicalPair, ferrySettingsText, NativeReplication, pollUntil, settleBoth, type ReplicationSystem } from '../lib/logical.js';
import { median, nowMs } from '../lib/stats.js';
import { WaitSampler } from '../lib/waits.js';
import { ROW, TABLE } from './apply.js';

const ROWS = Number(process.env.BENCH_E2E_ROWS ?? 1_000_000);
const PROFILE = process.env.BENCH_E2E_PROFILE !== '0';
/** Idle time with the system running before the statement (its ticker and apply at rest). */
const REST_MS = 1000;
const PROFILE_SQL = readFileSync(new URL('../sql/e2e-batch-profile.sql', import.meta.url), 'utf8');

type Kind = 'insert' | 'update';

/** Phases of one pgferry run (ms), from the commit's point of view. */
interface FerryPhases {
  commitToTick: number;
  tickToBatchOpened: number;
  batchOpenedToApplyBegin: number;
  applyBeginToVisible: number;
  visibleToFinished: number;
  ticksSinceStatementBegan: number;
  batchFromTick: string | null;
  batchToTick: string | null;
  batchId: string | null;
}

interface RunFigures {
  system: 'native' | 'pgferry';
  run: number;
  statementMs: number;
  commitToSubscriberMs: number;
  cpuMs: { node: number; provider: number; subscriber: number };
  phases?: FerryPhases;
  sessions?: Record<string, number>;
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function e2eCase(kind: Kind): BenchCase {
  const name = `e2e-${kind}`;
  const what = kind === 'insert' ? `one ${ROWS.toLocaleString('en-US')}-row INSERT transaction` : `one UPDATE of all ${ROWS.toLocaleString('en-US')} rows`;
  return {
    name,
    summary: `${what}, commit on the provider -> all rows on the subscriber: pgferry vs native logical replication (wal_level = logical)`,
    async run(ctx: BenchContext): Promise<ResultRow[]> {
      const pair = await LogicalPair.start(name);
      const db = (side: 'provider' | 'subscriber', prefix: string) => pair.database(side, prefix);
      let running: ReplicationSystem | undefined;
      try {
        const ferry = new FerryReplication(await db('provider', 'e2e_ferry'), await db('subscriber', 'e2e_ferry_sub'), ['accounts']);
        const native = new NativeReplication(await db('provider', 'e2e_native'), await db('subscriber', 'e2e_native_sub'), ['accounts']);
        // Setup (not timed): the table on the providers (with its rows for an update), the
        // initial copies to the subscribers, both systems stopped again.
        for (const sys of [ferry, native]) {
          await sys.provider.pool.query(`CREATE TABLE "accounts" ${TABLE}`);
          if (kind === 'update') {
            await sys.provider.pool.query(`INSERT INTO "accounts" ${ROW('1', String(ROWS))}`);
            await sys.provider.pool.query('VACUUM ANALYZE "accounts"');
          }
        }
        await native.subscriber.pool.query(`CREATE TABLE "accounts" ${TABLE}`);
        await native.publish();
        await ferry.setup();
        for (const sys of [ferry, native]) {
          ctx.log(`${name}: initial copy (${sys.label}) ...`);
          running = sys;
          await sys.start();
          await sys.stop();
          running = undefined;
          await sys.subscriber.pool.query('VACUUM ANALYZE "accounts"');
        }

        const cpu = new CpuSplitMeter(pair.dataDirs);
        const figures: RunFigures[] = [];
        const runsOf: Record<string, number> = { native: 0, pgferry: 0 };

        /** One measured transaction; returns its figures (the system is stopped and reset after). */
        const once = async (sys: ReplicationSystem, sessions?: WaitSampler): Promise<RunFigures> => {
          const run = ++runsOf[sys.label]!;
          const marker = `${sys.label} ${run}`;
          await settleBoth(sys.provider, sys.subscriber);
          running = sys;
          await sys.start();
          await new Promise((r) => setTimeout(r, REST_MS));
          const probe = await sys.subscriber.connect();
          const writer = await sys.provider.connect();
          try {
            const visible =
              kind === 'insert'
                ? async () => (await probe.query<{ ok: boolean }>(`SELECT EXISTS (SELECT FROM "accounts" WHERE "id" = $1) AS ok`, [ROWS])).rows[0]!.ok
                : async () => (await probe.query<{ note: string }>(`SELECT "note" FROM "accounts" WHERE "id" = 1`)).rows[0]?.note === marker;
            const cpu0 = cpu.now();
            const startedEpoch = Date.now();
            const t0 = nowMs();
            await writer.query('BEGIN');
            if (kind === 'insert') await writer.query(`INSERT INTO "accounts" ${ROW('1', String(ROWS))}`);
            else await writer.query(`UPDATE "accounts" SET "qty" = "qty" + 1, "note" = $1`, [marker]);
            const { rows: x } = await writer.query<{ txid: string }>('SELECT pg_catalog.pg_current_xact_id()::text AS txid');
            await writer.query('COMMIT');
            const tCommit = nowMs();
            const commitEpoch = Date.now();
            await sessions?.start(); // after the commit: the sessions of the replication only
            await pollUntil(`${sys.label}: the transaction on the subscriber`, 1_800_000, 10, visible);
            const tVisible = nowMs();
            const visibleEpoch = Date.now();
            const used = CpuSplitMeter.since(cpu0, cpu.now());
            // At once: a later (empty) batch would overwrite it (the idle period's tick).
            const applied = sys instanceof FerryReplication ? await appliedNow(sys) : undefined;
            const shares = sessions ? await sessions.stop() : undefined;
            // Not timed: the check, the profile, the reset.
            const { rows: c } = await probe.query<{ n: number }>(
              kind === 'insert' ? `SELECT count(*)::int AS n FROM "accounts"` : `SELECT count(*)::int AS n FROM "accounts" WHERE "note" = $1`,
              kind === 'insert' ? [] : [marker],
            );
            if (c[0]!.n !== ROWS) throw new Error(`${sys.label}: the subscriber has ${c[0]!.n} of ${ROWS} rows`);
            const f: RunFigures = {
              system: sys.label,
              run,
              statementMs: tCommit - t0,
              commitToSubscriberMs: tVisible - tCommit,
              cpuMs: { node: used.node, provider: used.servers[0]!, subscriber: used.servers[1]! },
              ...(shares ? { sessions: shares } : {}),
            };
            if (sys instanceof FerryReplication) f.phases = await ferryPhases(sys, x[0]!.txid, startedEpoch, commitEpoch, visibleEpoch, applied!);
            if (kind === 'insert') {
              // Emptied through replication (both systems replicate TRUNCATE).
              await writer.query('TRUNCATE "accounts"');
              await pollUntil(`${sys.label}: the TRUNCATE replicated`, 600_000, 20, async () =>
                (await probe.query<{ ok: boolean }>(`SELECT NOT EXISTS (SELECT FROM "accounts") AS ok`)).rows[0]!.ok,
              );
            }
            await sys.stop();
            running = undefined;
            if (kind === 'update') {
              // Every run updates a freshly written table (its pages full, as after the load).
              for (const d of [sys.provider, sys.subscriber]) await d.pool.query('VACUUM (FULL, ANALYZE) "accounts"');
            }
            return f;
          } finally {
            await Promise.all([probe.end(), writer.end()]);
          }
        };

        const measure = (sys: ReplicationSystem) => async (): Promise<Sample> => {
          const f = await once(sys);
          figures.push(f);
          const cpuTotal = f.cpuMs.node + f.cpuMs.provider + f.cpuMs.subscriber;
          ctx.log(
            `${name} ${sys.label} run ${f.run}: statement ${sec(f.statementMs)}, commit -> subscriber ${sec(f.commitToSubscriberMs)}, CPU node/provider/subscriber ${f.cpuMs.node.toFixed(0)}/${f.cpuMs.provider.toFixed(0)}/${f.cpuMs.subscriber.toFixed(0)} ms` +
              (f.phases ? `; ${phaseText(f.phases)}` : ''),
          );
          return { rate: ROWS / (f.commitToSubscriberMs / 1000), cpuUsPerOp: (cpuTotal * 1000) / ROWS };
        };
        const p = await pairedRates(ctx, name, ctx.runs, measure(native), { pgferry: measure(ferry) });

        let profiled: RunFigures | undefined;
        if (PROFILE) {
          ctx.log(`${name}: one more pgferry run with its sessions sampled (not counted) ...`);
          profiled = await once(ferry, new WaitSampler([
            { label: 'provider', url: ferry.provider.url },
            { label: 'subscriber', url: ferry.subscriber.url },
          ], 10, true));
          ctx.log(`${name} profiled run: commit -> subscriber ${sec(profiled.commitToSubscriberMs)}; ${phaseText(profiled.phases!)}; sessions: ${WaitSampler.format(profiled.sessions!, 10)}`);
        }

        const of = (s: 'native' | 'pgferry') => figures.filter((f) => f.system === s);
        const med = (s: 'native' | 'pgferry', pick: (f: RunFigures) => number) => median(of(s).map(pick));
        const ferryTime = med('pgferry', (f) => f.commitToSubscriberMs);
        const nativeTime = med('native', (f) => f.commitToSubscriberMs);
        const phases = of('pgferry').map((f) => f.phases!);
        const medPhase = (k: keyof FerryPhases) => median(phases.map((x) => Number(x[k])).filter(Number.isFinite));
        const cpuText = (s: 'native' | 'pgferry') =>
          `node ${sec(med(s, (f) => f.cpuMs.node))}, provider ${sec(med(s, (f) => f.cpuMs.provider))}, subscriber ${sec(med(s, (f) => f.cpuMs.subscriber))}`;
        return [
          ratioRow(name, 'pgferry', p, 1.0, 'rows/s', {
            scale: ROWS,
            rateText: `${sec(ferryTime)} (statement ${sec(med('pgferry', (f) => f.statementMs))})`,
            baselineText: `${sec(nativeTime)} (statement ${sec(med('native', (f) => f.statementMs))})`,
            ratioText: `${p.ratios.pgferry!.toFixed(2)}×`,
            notes: [
              `${what} in one transaction; times are commit on the provider -> all rows visible on the subscriber (medians of ${ctx.runs}); ratio = median over runs of native time / pgferry time; "statement" is the provider transaction itself (capture triggers for pgferry), not in the ratio`,
              `from the statement's start: pgferry ${sec(med('pgferry', (f) => f.statementMs + f.commitToSubscriberMs))}, native ${sec(med('native', (f) => f.statementMs + f.commitToSubscriberMs))}`,
              `pgferry after the commit (medians): commit -> first tick seeing it ${sec(medPhase('commitToTick'))}, tick -> batch opened ${sec(medPhase('tickToBatchOpened'))}, batch opened -> subscriber transaction began ${sec(medPhase('batchOpenedToApplyBegin'))}, subscriber transaction (read + apply + commit) ${sec(medPhase('applyBeginToVisible'))}; ${medPhase('ticksSinceStatementBegan')} ticks from the statement's start to that tick`,
              `CPU per run, statement start -> visible (medians): pgferry ${cpuText('pgferry')}; native ${cpuText('native')}`,
              ...(profiled
                ? [`profiled pgferry run (sessions sampled every 10 ms, not in the ratio): commit -> subscriber ${sec(profiled.commitToSubscriberMs)}; ${phaseText(profiled.phases!)}; sessions (share of samples, commit -> visible): ${WaitSampler.format(profiled.sessions!, 10)}`]
                : []),
              `servers: two embedded PostgreSQL with wal_level = logical (the only setting changed, for both systems); each system runs only during its own runs; pgferry: ${ferrySettingsText()}; native: subscription defaults (streaming off)`,
            ],
            detail: { runs: figures, profiled, serverSettings: { wal_level: 'logical' } },
          }),
        ];
      } finally {
        await running?.stop().catch(() => undefined);
        await pair.destroy();
      }
    },
  };
}

/** The subscriber's recorded position: its tick and when the transaction that recorded it began (epoch ms). */
async function appliedNow(sys: FerryReplication): Promise<{ tick: string; ms: number }> {
  const { rows } = await sys.subscriber.pool.query<{ tick: string; ms: number }>(
    `SELECT "at_tick_id"::text AS tick, pg_catalog.date_part('epoch', "at_applied") * 1000 AS ms FROM "pgferry"."applied_tick" WHERE "at_subscription" = $1`,
    [sys.subscription],
  );
  return { tick: rows[0]!.tick, ms: Number(rows[0]!.ms) };
}

async function ferryPhases(
  sys: FerryReplication,
  txid: string,
  startedEpoch: number,
  commitEpoch: number,
  visibleEpoch: number,
  appliedAt: { tick: string; ms: number },
): Promise<FerryPhases> {
  const { rows } = await sys.provider.pool.query<{
    tick_id: string;
    tick_ms: number;
    ticks_since_start: number;
    batch_id: string | null;
    batch_from_tick: string | null;
    batch_to_tick: string | null;
    opened_ms: number | null;
    finished_ms: number | null;
  }>(PROFILE_SQL, [sys.queue, txid, startedEpoch, sys.subscription]);
  const r = rows[0];
  if (!r) throw new Error(`pgferry: no tick sees transaction ${txid}`);
  // The subscriber transaction of that batch (NaN if a later batch recorded its own already).
  const applied = appliedAt.tick === r.batch_to_tick ? appliedAt.ms : Number.NaN;
  const opened = r.opened_ms === null ? Number.NaN : Number(r.opened_ms);
  return {
    commitToTick: Number(r.tick_ms) - commitEpoch,
    tickToBatchOpened: opened - Number(r.tick_ms),
    batchOpenedToApplyBegin: applied - opened,
    applyBeginToVisible: visibleEpoch - applied,
    visibleToFinished: r.finished_ms === null ? Number.NaN : Number(r.finished_ms) - visibleEpoch,
    ticksSinceStatementBegan: r.ticks_since_start,
    batchFromTick: r.batch_from_tick,
    batchToTick: r.batch_to_tick,
    batchId: r.batch_id,
  };
}

function phaseText(x: FerryPhases): string {
  return `commit -> tick ${sec(x.commitToTick)}, -> batch opened ${sec(x.tickToBatchOpened)}, -> subscriber transaction began ${sec(x.batchOpenedToApplyBegin)}, -> visible ${sec(x.applyBeginToVisible)}, -> finish_batch ${sec(x.visibleToFinished)}`;
}

export const e2eInsert = e2eCase('insert');
export const e2eUpdate = e2eCase('update');
