/**
 * Bulk insert through COPY: the events are COPYed into the session's event stage
 * (pgferry.event_stage()) and moved into the queue by one call of
 * pgferry.insert_events_staged. Sending a million payloads as one bound parameter costs more
 * than the COPY, and splitting them server-side more again (bench: produce-bulk).
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { translateError } from '@pgferry/sql';
import { q } from './db.js';

/** Events ready to send: encoded payloads, and types/extras as the producer got them. */
export interface EncodedEvents {
  /** One type for all (then `types` is unused), or null. */
  oneType: string | null;
  types: string[];
  datas: string[];
  /** ev_extra1..4 per event, or null when no event has any. */
  extras: (string | null)[][] | null;
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A value in COPY's text format (null as \N). */
function copyTextField(value: string | null): string {
  if (value === null) return '\\N';
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : value;
}

/** The stage's columns `ev` fills: the order, ev_type only without one type for all, extras only if any. */
function stageColumns(ev: EncodedEvents): string {
  return ['ev_ord', ...(ev.oneType === null ? ['ev_type'] : []), 'ev_data', ...(ev.extras ? ['ev_extra1', 'ev_extra2', 'ev_extra3', 'ev_extra4'] : [])].join(', ');
}

/** COPY text lines of stageColumns(ev), about `chunkChars` characters at a time. */
function* copyLines(ev: EncodedEvents, chunkChars = 1 << 18): Generator<string> {
  const x = ev.extras;
  let parts: string[] = [];
  let size = 0;
  for (let i = 0; i < ev.datas.length; i++) {
    let line = copyTextField(ev.datas[i]!);
    if (ev.oneType === null) line = `${copyTextField(ev.types[i]!)}\t${line}`;
    line = `${i}\t${line}`; // ev_ord: the order the events get their ids in
    if (x) line += `\t${copyTextField(x[0]![i]!)}\t${copyTextField(x[1]![i]!)}\t${copyTextField(x[2]![i]!)}\t${copyTextField(x[3]![i]!)}`;
    parts.push(line);
    size += line.length + 1;
    if (size >= chunkChars) {
      parts.push('');
      yield parts.join('\n');
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) {
    parts.push('');
    yield parts.join('\n');
  }
}

/**
 * Insert `ev` into `queue` through the session's event stage, on `client` (in its
 * transaction, if one is open). Returns how many were inserted, or null when the database
 * has no stage to offer (its schema owner may not create temporary tables): use
 * insert_events then.
 */
export async function insertStaged(client: pg.ClientBase, queue: string, ev: EncodedEvents): Promise<number | null> {
  const stage = (await q<{ s: string | null }>(client, 'SELECT pgferry.event_stage() AS s'))[0]!.s;
  if (stage === null) return null;
  try {
    await pipeline(Readable.from(copyLines(ev)), client.query(copyFrom(`COPY ${stage} (${stageColumns(ev)}) FROM STDIN`)));
  } catch (err) {
    throw translateError(err);
  }
  const rows = await q<{ n: string }>(client, 'SELECT pgferry.insert_events_staged($1, $2) AS n', [queue, ev.oneType]);
  return Number(rows[0]!.n);
}
