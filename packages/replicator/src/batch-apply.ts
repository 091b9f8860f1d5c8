/**
 * Read a batch's events from the provider (a cursor: bounded memory), keep those of the
 * tables `route` maps, coalesce them per key and apply them on the subscriber in the
 * caller's transaction, flushing whenever too many distinct keys are held. A flush runs
 * while the next events are read (the two servers work at once); one flush at a time, in
 * order, so at most two generations of keys are held.
 */
import type pg from 'pg';
import { streamBatchEvents, type RawEvent } from '@pgferry/queue';
import { applyTableChanges, addApplyResult, emptyApplyResult, type ApplyResult } from './apply.js';
import { Coalescer } from './coalesce.js';
import { ApplyError } from './errors.js';
import type { SubscribedTable } from './tables-model.js';

export interface BatchApplyResult {
  /** Events read (all tables). */
  events: number;
  /** Events of routed tables. */
  applied: number;
  total: ApplyResult;
  perTable: Map<string, ApplyResult>;
}

export interface BatchApplyOptions {
  provider: pg.Pool;
  subscriber: pg.ClientBase;
  batchId: string;
  /** The subscriber table an event goes to, or undefined to skip it. */
  route: (ev: RawEvent) => SubscribedTable | undefined;
  fetchSize?: number;
  maxKeys?: number;
  /** Longest wait for one fetch from the provider (ms): see streamBatchEvents. */
  readTimeoutMs?: number;
}

export async function applyBatch(o: BatchApplyOptions): Promise<BatchApplyResult> {
  let coalescer = new Coalescer();
  const tables = new Map<string, SubscribedTable>();
  const result: BatchApplyResult = { events: 0, applied: 0, total: emptyApplyResult(), perTable: new Map() };
  const maxKeys = o.maxKeys ?? 20_000;

  const apply = async (generation: Coalescer) => {
    for (const [source, changes] of generation.tables) {
      const t = tables.get(source)!;
      const r = await applyTableChanges(o.subscriber, t, changes);
      addApplyResult(result.total, r);
      const acc = result.perTable.get(source) ?? emptyApplyResult();
      addApplyResult(acc, r);
      result.perTable.set(source, acc);
    }
  };
  // The flush in flight, and its error (seen at the next flush or at the end).
  let inflight: Promise<void> = Promise.resolve();
  let failed: { err: unknown } | undefined;
  const flush = async () => {
    await inflight;
    if (failed) throw failed.err;
    const generation = coalescer;
    coalescer = new Coalescer();
    inflight = apply(generation).catch((err: unknown) => {
      failed = { err };
    });
  };

  const pc = await o.provider.connect();
  const ignore = () => undefined;
  pc.on('error', ignore);
  let broken: Error | undefined;
  try {
    await pc.query('BEGIN');
    for await (const chunk of streamBatchEvents(pc, o.batchId, o.fetchSize ?? 2000, { readTimeoutMs: o.readTimeoutMs })) {
      for (const ev of chunk) {
        result.events++;
        const t = o.route(ev);
        if (!t) continue;
        result.applied++;
        tables.set(t.source, t);
        if (ev.type === 'T') {
          coalescer.truncate(t.source);
        } else if (ev.type === 'I' || ev.type === 'U' || ev.type === 'D') {
          if (ev.extra2 === null || ev.data === null) {
            throw new ApplyError(t.dest, null, ev.id, `event ${ev.id} of type ${ev.type} has no key or row image`);
          }
          coalescer.change(t.source, ev.type, ev.extra2, ev.data, ev.id);
        } else {
          throw new ApplyError(t.dest, ev.extra2, ev.id, `unknown event type ${JSON.stringify(ev.type)}`);
        }
      }
      if (coalescer.size >= maxKeys) await flush();
    }
    await pc.query('COMMIT');
  } catch (err) {
    if (err instanceof Error && !(err instanceof ApplyError)) broken = err;
    await pc.query('ROLLBACK').catch(() => undefined);
    await inflight; // the subscriber client is the caller's: leave it idle
    throw err;
  } finally {
    pc.off('error', ignore);
    pc.release(broken);
  }
  await flush();
  await inflight;
  if (failed) throw failed.err;
  return result;
}
