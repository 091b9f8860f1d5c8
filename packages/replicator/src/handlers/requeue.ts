/**
 * The requeue handler: the table's changes become events of a local queue on the
 * subscriber (to be consumed there), written in the batch's transaction: exactly once with
 * the batch. No table of the provider's shape is written (dest is a name only).
 *
 * Arguments:
 *   queue=<name>         the local queue (created at add-table when missing)
 *   initial=rows|none    the rows of the initial copy (and of a resync) as I events (default
 *                        rows), or nothing
 *
 * What lands: handlers receive a batch's changes coalesced per key, so each batch requeues
 * the net effect per key, in the form of the provider's capture events: ev_type I (the key
 * did not exist before the batch and does after), U (existed and still does), D (existed,
 * is gone; a key inserted and deleted within the batch gives nothing), T for a TRUNCATE
 * (before the batch's other events of the table); ev_data the row image (for D the deleted
 * row's; for T none), ev_extra1 the provider's table name, ev_extra2 the key (JSON array of
 * text forms), ev_extra3 the id of the provider's last event for the key ("copy" for the
 * rows of the copy). Several changes of a key within one batch arrive as one event; the
 * order of events of different keys within a batch is not the provider's. A batch applied
 * in the provider's order (another table's constraint needed it) hands over each event
 * alone: its events are then the provider's own, one for one, in order.
 *
 * Where the changes start: the copy's snapshot. Changes committed before it (after
 * add-table too) are in the copied rows, requeued as I events unless initial=none.
 */
import pg from 'pg';
import { createQueue, type Queryable } from '@pgferry/queue';
import { HandlerArgsError } from '../errors.js';
import { sql } from '../sql.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import type { KeyChange, TableChanges } from '../stream/coalesce.js';
import { checkKnownArgs, requiredArg } from './handler-args.js';
import { emptyApplyResult, type ApplyResult, type HandlerArgs, type HandlerDefinition } from './types.js';

const NAME = 'requeue';
/** Where the copy lands (a temporary table of text columns: the COPY's text forms, untouched). */
const COPY_TABLE = 'pg_temp.pgferry_requeue_copy';

export interface RequeueConfig {
  queue: string;
  initial: 'rows' | 'none';
}

export function parseRequeueArgs(args: HandlerArgs): RequeueConfig {
  checkKnownArgs(NAME, args, ['queue', 'initial']);
  const queue = requiredArg(NAME, args, 'queue', '<local queue name>');
  const initial = args.initial?.trim() || 'rows';
  if (initial !== 'rows' && initial !== 'none') {
    throw new HandlerArgsError(`handler "${NAME}": argument "initial": "${initial}" is neither rows nor none`, {
      hint: 'initial=rows requeues the copied rows as I events, initial=none skips them',
    });
  }
  return { queue, initial };
}

/** The net effect of a key's changes in the batch, as an event type (null: nothing). */
function netType(c: KeyChange): 'I' | 'U' | 'D' | null {
  if (c.image !== null) return c.existedBefore ? 'U' : 'I';
  return c.existedBefore ? 'D' : null;
}

/** Rows of the copy requeued per statement (read through a cursor: bounded memory). */
const COPY_CHUNK = 10_000;

/** Insert events (one type, or one per event; datas JSON texts or 'null') in one statement. */
async function insertEvents(
  client: Queryable,
  queue: string,
  table: SubscribedTable,
  types: string[],
  e: { datas: string[]; keys: (string | null)[]; ids: (string | null)[] },
): Promise<void> {
  await client.query(sql('requeue_events'), [queue, types, `[${e.datas.join(',')}]`, e.datas.map(() => table.source), e.keys, e.ids]);
}

async function requeue(client: Queryable, config: RequeueConfig, table: SubscribedTable, changes: TableChanges): Promise<ApplyResult> {
  const result = emptyApplyResult();
  const types: string[] = [];
  const datas: string[] = [];
  const keys: (string | null)[] = [];
  const ids: (string | null)[] = [];
  if (changes.truncate) {
    types.push('T');
    datas.push('null');
    keys.push(null);
    ids.push(null);
  }
  for (const c of changes.keys.values()) {
    const type = netType(c);
    if (!type) continue;
    types.push(type);
    datas.push(type === 'D' ? c.lastImage : c.image!);
    keys.push(c.key);
    ids.push(c.eventId);
    if (type === 'I') result.inserted++;
    else if (type === 'U') result.updated++;
    else result.deleted++;
  }
  if (types.length) await insertEvents(client, config.queue, table, types, { datas, keys, ids });
  return result;
}

export const requeueHandler: HandlerDefinition = {
  name: NAME,
  description: 'the changes as events of a local queue on the subscriber (net effect per key and batch)',
  destIsTable: false,
  create(table, args) {
    const config = parseRequeueArgs(args);
    return {
      apply: (ctx, changes) => requeue(ctx.client, config, table, changes),
      copy: {
        async begin(ctx) {
          const cols = table.columns.map((c) => `${pg.escapeIdentifier(c)} pg_catalog.text`).join(', ');
          await ctx.client.query(`CREATE TEMPORARY TABLE ${COPY_TABLE.slice('pg_temp.'.length)} (${cols}) ON COMMIT DROP`);
          return COPY_TABLE;
        },
        async end(ctx, relation) {
          if (config.initial === 'none') return;
          // Images and keys as the capture triggers build them (row_to_json of text forms;
          // json_build_array); c.* is the row even where a column is named c.
          const key = `pg_catalog.json_build_array(${table.keyColumns.map((k) => `c.${pg.escapeIdentifier(k)}`).join(', ')})::pg_catalog.text`;
          await ctx.client.query(
            `DECLARE pgferry_requeue_rows NO SCROLL CURSOR FOR
               SELECT pg_catalog.row_to_json(c.*)::pg_catalog.text AS data, ${key} AS key FROM ${relation} AS c`,
          );
          for (;;) {
            const { rows } = await ctx.client.query<{ data: string; key: string }>(`FETCH ${COPY_CHUNK} FROM pgferry_requeue_rows`);
            if (!rows.length) break;
            await insertEvents(ctx.client, config.queue, table, ['I'], {
              datas: rows.map((r) => r.data), keys: rows.map((r) => r.key), ids: rows.map(() => 'copy'),
            });
          }
          await ctx.client.query('CLOSE pgferry_requeue_rows');
        },
      },
    };
  },
  async prepare(client, _table, args) {
    const config = parseRequeueArgs(args);
    try {
      await createQueue(client, config.queue);
    } catch (err) {
      throw new HandlerArgsError(`handler "${NAME}": argument "queue": cannot create queue "${config.queue}": ${(err as Error).message}`, {
        hint: 'name a valid queue, or create it first',
        cause: err,
      });
    }
  },
};
