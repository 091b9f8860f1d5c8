import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { install, uninstall } from '@pgferry/sql';
import { COPY_MIN_EVENTS, Producer, QueueNotFoundError, createQueue } from '../src/index.js';

/** A queue's events as stored, in id order. */
async function storedEvents(pool: pg.Pool, queue: string): Promise<Record<string, string | null>[]> {
  const { rows } = await pool.query(
    `SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4 FROM pgferry.event
      WHERE ev_queue = (SELECT queue_id FROM pgferry.queue WHERE queue_name = $1) ORDER BY ev_id`,
    [queue],
  );
  return rows;
}

/** The rows insertMany of `events` stores (the tests never set the second extra). */
function asStored(events: readonly { type: string; payload: unknown; extra?: readonly (string | undefined)[] }[]) {
  return events.map((e) => ({
    ev_type: e.type,
    ev_data: JSON.stringify(e.payload),
    ev_extra1: e.extra?.[0] ?? null,
    ev_extra2: null,
    ev_extra3: e.extra?.[2] ?? null,
    ev_extra4: e.extra?.[3] ?? null,
  }));
}

describe('producer', () => {
  const db = useTestDatabase();

  it('insertMany keeps order, types, extras and every payload byte for byte', async () => {
    await createQueue(db.pool, 'bulk');
    const tricky = [
      { s: 'quote " and \\ backslash, comma , and ] bracket' },
      'a plain string',
      null,
      42.5,
      [1, [2, { three: 'ünïcødé ✓ 𝄞' }]],
      { nested: { empty: {}, list: [], nul: null, ctl: '\u0001\n\r\n\t\u0000', seps: '\u001e \u2028 \ud800 lone' } },
      true,
      '',
    ];
    const events = Array.from({ length: 400 }, (_, i) => ({
      type: i % 3 === 0 ? 'a' : 'b',
      payload: { i, v: tricky[i % tricky.length] },
      extra: i % 5 === 0 ? (['x' + i, undefined, 'z', '"q"'] as const) : undefined,
    }));
    const producer = new Producer(db.pool, { queue: 'bulk' });
    expect(await producer.insertMany(events)).toBe(400);
    expect(await producer.insertMany([{ type: 'one', payload: null }])).toBe(1);

    expect(await storedEvents(db.pool, 'bulk')).toEqual([
      ...asStored(events),
      { ev_type: 'one', ev_data: 'null', ev_extra1: null, ev_extra2: null, ev_extra3: null, ev_extra4: null },
    ]);
  });

  it('insert is a prepared statement that survives a reinstall on the same connection, or plain with prepare: false', async () => {
    await createQueue(db.pool, 'prep');
    const client = await db.pool.connect();
    try {
      for (const prepare of [true, false]) {
        const producer = new Producer(client, { queue: 'prep', prepare });
        const first = await producer.insert('t', { prepare });
        await expect(new Producer(client, { queue: 'nope', prepare }).insert('t', {})).rejects.toBeInstanceOf(QueueNotFoundError);
        // The functions are dropped and created again: the statement is planned again.
        await uninstall(client);
        await install(client);
        await createQueue(client, 'prep');
        const second = await producer.insert('t', { prepare, again: true });
        expect(BigInt(second)).toBeGreaterThan(0n);
        expect(first).not.toBe('');
      }
      const { rows } = await client.query<{ ev_data: string }>('SELECT ev_data FROM pgferry.event ORDER BY ev_id');
      expect(rows.map((r) => r.ev_data)).toEqual(['{"prepare":false,"again":true}']);
    } finally {
      client.release();
    }
  });
});

describe('insertMany through the event stage (COPY)', () => {
  const db = useTestDatabase();
  const events = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => ({
      type: i % 7 === 0 ? `t\\${tag}\ttab` : 'plain',
      // Rows of very different sizes: the stage's pages are then not in COPY's order (a short
      // row goes to an earlier page with room left), and the ids must follow the input anyway.
      payload: { i, tag, s: i % 3 === 0 ? 'back\\slash \\N "q" \n\t\r \u0000 ü 𝄞 \ud800' : null, pad: i % 10 === 1 ? 'x'.repeat(3000) : '' },
      extra: i % 5 === 0 ? ([`\\N`, undefined, 'line\nbreak\r\ttab\\', ''] as const) : undefined,
    }));
  const stored = (queue: string) => storedEvents(db.pool, queue);
  const expected = asStored;

  it('keeps order, types, extras (a literal \\N too) and every payload byte, and empties the stage', async () => {
    await createQueue(db.pool, 'staged');
    const client = await db.pool.connect();
    try {
      const producer = new Producer(client, { queue: 'staged' });
      const mixed = events(COPY_MIN_EVENTS + 500, 'a');
      expect(await producer.insertMany(mixed)).toBe(mixed.length);
      // One type for all and no extras: only ev_data is COPYed.
      const oneType = Array.from({ length: COPY_MIN_EVENTS }, (_, i) => ({ type: 'one', payload: { i, s: 'x\\y' } }));
      expect(await producer.insertMany(oneType)).toBe(oneType.length);
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_temp.pgferry_event_stage`);
      expect(rows[0].n).toBe(0);
      expect(await stored('staged')).toEqual([
        ...expected(mixed),
        ...oneType.map((e) => ({ ev_type: 'one', ev_data: JSON.stringify(e.payload), ev_extra1: null, ev_extra2: null, ev_extra3: null, ev_extra4: null })),
      ]);
    } finally {
      client.release();
    }
  });

  it('inserts nothing when the caller rolls back, ignores rows left in the stage, and refuses a call without a stage', async () => {
    await createQueue(db.pool, 'staged_tx');
    const client = await db.pool.connect();
    try {
      const producer = new Producer(client, { queue: 'staged_tx' });
      await client.query('BEGIN');
      await producer.insertMany(events(COPY_MIN_EVENTS, 'rolled back'));
      await client.query('ROLLBACK');
      expect(await stored('staged_tx')).toEqual([]);
      // A COPY whose insert_events_staged never ran leaves rows behind: not sent next time.
      await client.query('SELECT pgferry.event_stage()');
      await client.query(`INSERT INTO pg_temp.pgferry_event_stage (ev_ord, ev_data) VALUES (0, '"stale"')`);
      const fresh = events(COPY_MIN_EVENTS, 'fresh');
      expect(await producer.insertMany(fresh)).toBe(fresh.length);
      expect(await stored('staged_tx')).toEqual(expected(fresh));
    } finally {
      client.release();
    }
    const other = await db.connect();
    try {
      await expect(other.query(`SELECT pgferry.insert_events_staged('staged_tx')`)).rejects.toThrow(/no event stage/);
    } finally {
      await other.end();
    }
  });

  it('works for a pgferry_writer, and refuses a pgferry_event_stage the writer made itself', async () => {
    const writer = `pf_writer_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${writer} LOGIN IN ROLE pgferry_writer`);
    await createQueue(db.pool, 'staged_writer');
    const pool = new pg.Pool({ connectionString: db.urlAs(writer), max: 1 });
    const fresh = new pg.Pool({ connectionString: db.urlAs(writer), max: 1 });
    try {
      const producer = new Producer(pool, { queue: 'staged_writer' });
      const list = events(COPY_MIN_EVENTS, 'writer');
      expect(await producer.insertMany(list)).toBe(list.length);
      expect(await stored('staged_writer')).toEqual(expected(list));
      // The writer can neither drop nor alter the stage pgferry made (it may only INSERT).
      await expect(pool.query('DROP TABLE pg_temp.pgferry_event_stage')).rejects.toThrow(/must be owner/);
      // A view (or a table with triggers) of that name made first would run the writer's code
      // with the schema owner's rights when read or emptied: the stage is only ever pgferry's own.
      await fresh.query(`CREATE TEMP VIEW pgferry_event_stage AS SELECT 'x'::text AS ev_type, 'y'::text AS ev_data`);
      await expect(new Producer(fresh, { queue: 'staged_writer' }).insertMany(events(COPY_MIN_EVENTS, 'hijack')))
        .rejects.toThrow(/pgferry_event_stage was not created by pgferry/);
      await expect(fresh.query(`SELECT pgferry.insert_events_staged('staged_writer')`)).rejects.toThrow(/was not created by pgferry/);
      expect(await stored('staged_writer')).toEqual(expected(list));
    } finally {
      await pool.end();
      await fresh.end();
      await db.pool.query(`DROP OWNED BY ${writer}; DROP ROLE ${writer}`);
    }
  });
});
