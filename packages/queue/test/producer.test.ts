import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { install, uninstall } from '@pgferry/sql';
import { Producer, QueueNotFoundError, createQueue } from '../src/index.js';

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
      { nested: { empty: {}, list: [], nul: null, ctl: '\u0001\n\t\u0000' } },
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

    const { rows } = await db.pool.query(
      `SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4 FROM pgferry.event
        WHERE ev_queue = (SELECT queue_id FROM pgferry.queue WHERE queue_name = 'bulk') ORDER BY ev_id`,
    );
    expect(rows).toEqual([
      ...events.map((e) => ({
        ev_type: e.type,
        ev_data: JSON.stringify(e.payload),
        ev_extra1: e.extra?.[0] ?? null,
        ev_extra2: null,
        ev_extra3: e.extra?.[2] ?? null,
        ev_extra4: e.extra?.[3] ?? null,
      })),
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
