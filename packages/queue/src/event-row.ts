/**
 * Events read from rows of batch_event_sql's columns as the server's text (not exported
 * from the package): the batch stream and the Consumer parse only what is read.
 */
import pg from 'pg';
import type { RawEvent } from './batch.js';

/** Every column as the server's text: pass as a query's `types`, with `rowMode: 'array'`. */
export const RAW_TYPES = { getTypeParser: () => (value: string) => value };

/** The parser node-postgres uses for timestamptz (looked up when used: a program may set its own). */
const parseTimestamptz = (value: string) => (pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (v: string) => Date)(value);

/** A row of batch_event_sql (ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data, ev_extra1..4) as text. */
export type EventTextRow = [
  id: string, time: string, txid: string, retry: string | null, type: string | null, data: string | null,
  extra1: string | null, extra2: string | null, extra3: string | null, extra4: string | null,
];

/**
 * An event from an EventTextRow. `time` is parsed when first read (a replicator reading a
 * million events never needs it: the Date parse was a tenth of its read cost), by a getter
 * of the class, so that no closure is made per event.
 */
export class TextRowEvent implements RawEvent {
  id: string;
  txid: string;
  retry: number | null;
  type: string | null;
  data: string | null;
  extra1: string | null;
  extra2: string | null;
  extra3: string | null;
  extra4: string | null;
  #timeText: string;
  #time: Date | undefined;

  constructor(r: EventTextRow) {
    this.id = r[0];
    this.#timeText = r[1];
    this.txid = r[2];
    this.retry = r[3] === null ? null : Number(r[3]);
    this.type = r[4];
    this.data = r[5];
    this.extra1 = r[6];
    this.extra2 = r[7];
    this.extra3 = r[8];
    this.extra4 = r[9];
  }

  get time(): Date {
    return (this.#time ??= parseTimestamptz(this.#timeText));
  }

  set time(value: Date) {
    this.#time = value;
  }

  /** As a plain event (JSON.stringify sees `time` too). */
  toJSON(): RawEvent {
    return { id: this.id, time: this.time, txid: this.txid, retry: this.retry, type: this.type, data: this.data,
      extra1: this.extra1, extra2: this.extra2, extra3: this.extra3, extra4: this.extra4 };
  }
}
