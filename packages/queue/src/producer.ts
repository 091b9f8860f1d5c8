/**
 * Producer: inserts events into a queue, in the caller's transaction (pass `client`) or in
 * its own. Typed payloads are checked against their zod schema before anything is sent.
 */
import type pg from 'pg';
import type { z } from 'zod';
import { q, type Queryable } from './db.js';
import { encodePayload, validatePayload, type EventSchemas } from './events.js';
import { insertStaged, type EncodedEvents } from './staged-insert.js';
import { withTransaction } from './runtime/index.js';

export interface ProducerOptions<S extends EventSchemas> {
  queue: string;
  /** Zod schema per event type; when given, only these types are accepted. */
  schemas?: S;
  /**
   * Send `insert` as a prepared statement, parsed once per connection (default true: a
   * single insert costs about 15% less). Turn it off behind a connection pooler that
   * cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
   */
  prepare?: boolean;
}

/** Payload type of event type K (any JSON value without schemas). */
export type PayloadOf<S extends EventSchemas, K> = K extends keyof S ? z.input<S[K]> : unknown;

export interface InsertOptions {
  /** Insert in this client's current transaction instead of the pool's. */
  client?: Queryable;
  /** ev_extra1..4 (free text columns, e.g. a routing key or a table name). */
  extra?: readonly [string?, string?, string?, string?];
}

export interface NewEvent<S extends EventSchemas, K extends keyof S & string = keyof S & string> {
  type: K;
  payload: PayloadOf<S, K>;
  extra?: readonly [string?, string?, string?, string?];
}

export class Producer<S extends EventSchemas = EventSchemas> {
  readonly queue: string;
  private readonly schemas: S | undefined;
  private readonly statementName: string | undefined;

  constructor(
    private readonly db: pg.Pool | Queryable,
    options: ProducerOptions<S>,
  ) {
    this.queue = options.queue;
    this.schemas = options.schemas;
    this.statementName = options.prepare === false ? undefined : 'pgferry_insert_event';
  }

  /** Insert one event. Returns its id. */
  async insert<K extends keyof S & string>(type: K, payload: PayloadOf<S, K>, options: InsertOptions = {}): Promise<string> {
    const data = encodePayload(validatePayload(this.schemas, type, payload));
    const e = options.extra ?? [];
    const rows = await q<{ id: string }>(
      options.client ?? this.db,
      'SELECT pgferry.insert_event($1, $2, $3, $4, $5, $6, $7) AS id',
      [this.queue, type, data, e[0] ?? null, e[1] ?? null, e[2] ?? null, e[3] ?? null],
      this.statementName,
    );
    return rows[0]!.id;
  }

  /**
   * Insert many events at once (set-based, in one statement). From COPY_MIN_EVENTS events on
   * they are COPYed into the session's event stage first (two round trips more, half the time
   * for a million). With a `client` behind a pooler in transaction mode, call it inside a
   * transaction (the stage is the session's). Returns how many were inserted.
   */
  async insertMany(events: readonly NewEvent<S>[], options: { client?: Queryable } = {}): Promise<number> {
    if (events.length === 0) return 0;
    const encoded = this.encode(events);
    const db = options.client ?? this.db;
    if (events.length >= COPY_MIN_EVENTS) {
      const stage = (client: pg.ClientBase) => insertStaged(client, this.queue, encoded);
      // One connection for the stage, the COPY and the move: the caller's, or one of the
      // pool's in a transaction of its own (also one server connection behind a pooler).
      const staged = isPool(db) ? await withTransaction(db, stage) : await stage(db as pg.ClientBase);
      if (staged !== null) return staged;
    }
    // The payloads travel as one text, a line each, split server-side by string_to_array:
    // JSON.stringify never writes a raw line break (it escapes control characters), and
    // node-postgres would escape a text[] element by element in JavaScript, at half the
    // speed; a JSON array would be parsed whole on the server (and sorted back into order).
    const rows = await q<{ n: string }>(
      db,
      `SELECT pgferry.insert_events($1, $2, pg_catalog.string_to_array($3, E'\\n'), $4, $5, $6, $7) AS n`,
      [this.queue, encoded.oneType === null ? encoded.types : [encoded.oneType], encoded.datas.join('\n'),
        ...(encoded.extras ?? [null, null, null, null])],
    );
    return Number(rows[0]!.n);
  }

  /** Validate and encode: throws before anything is sent. */
  private encode(events: readonly NewEvent<S>[]): EncodedEvents {
    const types: string[] = [];
    const datas: string[] = [];
    const extras: (string | null)[][] = [[], [], [], []];
    let anyExtra = false;
    for (const ev of events) {
      types.push(ev.type);
      datas.push(encodePayload(validatePayload(this.schemas, ev.type, ev.payload)));
      for (let i = 0; i < 4; i++) {
        const v = ev.extra?.[i] ?? null;
        if (v !== null) anyExtra = true;
        extras[i]!.push(v);
      }
    }
    const oneType = types.every((t) => t === types[0]) ? types[0]! : null;
    return { oneType, types, datas, extras: anyExtra ? extras : null };
  }
}

/** insertMany COPYs from this many events on (fewer: one statement with arrays). */
export const COPY_MIN_EVENTS = 2000;

function isPool(db: pg.Pool | Queryable): db is pg.Pool {
  return typeof (db as pg.Pool).connect === 'function' && typeof (db as pg.Pool).totalCount === 'number';
}
