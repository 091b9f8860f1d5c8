/**
 * Read a batch's events from the provider (a cursor: bounded memory), routing each event to
 * the subscriber table it belongs to. No BEGIN or COMMIT: the cursor's portal lives in the
 * protocol's implicit transaction until the read ends (two round trips a batch fewer).
 */
import type pg from 'pg';
import { streamBatchEvents, withClient, type RawEvent } from '@pgferry/queue';
import { EXECUTE_EVENT } from '../admin/execute.js';
import { DDL_EVENT } from './ddl.js';
import { ApplyError } from '../errors.js';
import type { SubscribedTable } from '../state/subscribed-table.js';

/** An event and the subscriber table it goes to; `table` null: DDL (an execute or a DDL event). */
export type Routed = { ev: RawEvent; table: SubscribedTable } | { ev: RawEvent; table: null };

export interface ReadBatchOptions {
  provider: pg.Pool;
  batchId: string;
  /** The subscriber table an event goes to, or undefined to skip it. */
  route: (ev: RawEvent) => SubscribedTable | undefined;
  fetchSize?: number;
  /** Longest wait for one fetch from the provider (ms): see streamBatchEvents. */
  readTimeoutMs?: number;
  /** Deliver DDL (execute events, see admin/execute.ts; DDL events, see stream/ddl.ts): the main stream runs them. */
  executes?: boolean;
}

/** Events read: all, and those routed to a table. */
export interface ReadCounts {
  events: number;
  applied: number;
}

/**
 * Read the batch from the provider, handing each chunk's routed events to `onChunk`
 * (checked: a known type, a key and an image). On an error, `onError` lets subscriber work
 * in flight settle before the error is thrown.
 */
export async function readBatch(
  o: ReadBatchOptions,
  result: ReadCounts,
  onChunk: (routed: Routed[]) => Promise<void>,
  onError: () => Promise<void>,
): Promise<void> {
  // After a failed read the provider connection is discarded (a cursor may be left open);
  // the handler's or the subscriber's own errors (ApplyError) leave it clean.
  await withClient(
    o.provider,
    async (pc) => {
      try {
        for await (const chunk of streamBatchEvents(pc, o.batchId, o.fetchSize ?? 2000, { readTimeoutMs: o.readTimeoutMs })) {
          let routed: Routed[] = [];
          for (const ev of chunk) {
            result.events++;
            if (ev.type === EXECUTE_EVENT || ev.type === DDL_EVENT) {
              if (!o.executes) continue;
              // The events after it are routed once it ran: it may change the tables.
              await onChunk(routed);
              routed = [];
              await onChunk([{ ev, table: null }]);
              continue;
            }
            const table = o.route(ev);
            if (!table) continue;
            result.applied++;
            checkEvent(ev, table);
            routed.push({ ev, table });
          }
          await onChunk(routed);
        }
      } catch (err) {
        // The cursor is closed (the stream's own cleanup) or the connection discarded.
        await onError(); // the subscriber client is the caller's: leave it idle
        throw err;
      }
    },
    { discardOn: (err) => !(err instanceof ApplyError) },
  );
}

/** A change event has a key and a row image; a truncate has neither; nothing else is known. */
function checkEvent(ev: RawEvent, table: SubscribedTable): void {
  if (ev.type === 'I' || ev.type === 'U' || ev.type === 'D') {
    if (ev.extra2 === null || ev.data === null) {
      throw new ApplyError(table.dest, null, ev.id, `event ${ev.id} of type ${ev.type} has no key or row image`);
    }
  } else if (ev.type !== 'T') {
    throw new ApplyError(table.dest, ev.extra2, ev.id, `unknown event type ${JSON.stringify(ev.type)}`);
  }
}

