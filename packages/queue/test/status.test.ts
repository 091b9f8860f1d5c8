/**
 * getQueueStatus, what `pgferry queue status --json` prints and the console shows: each
 * queue with its consumers and its rotating event tables (the current one marked, sizes
 * that grow with events); a pgferry_reader, which may not read pgferry.queue, gets the rest
 * of the status with eventTables null.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Producer, createQueue, getQueueStatus, registerConsumer } from '../src/index.js';

const READER = `pf_status_reader_${randomBytes(4).toString('hex')}`;

describe('getQueueStatus', () => {
  const db = useTestDatabase();
  let reader: pg.Pool;

  beforeAll(async () => {
    await createQueue(db.pool, 'a', { tables: 4 });
    await createQueue(db.pool, 'b');
    await registerConsumer(db.pool, 'a', 'c1');
    await db.pool.query(`CREATE ROLE ${READER} LOGIN IN ROLE pgferry_reader`);
    reader = new pg.Pool({ connectionString: db.urlAs(READER), max: 2 });
    reader.on('error', () => undefined);
  });
  afterAll(async () => {
    await reader.end();
    await db.pool.query(`DROP OWNED BY ${READER}; DROP ROLE ${READER}`);
  });

  it('lists each queue with its consumers and its event tables', async () => {
    const before = await getQueueStatus(db.pool, 'a');
    expect(before).toHaveLength(1);
    const [a] = before;
    expect(a!.consumerList.map((c) => c.consumerName)).toEqual(['c1']);
    expect(a!.eventTables!.map((t) => t.tableNo)).toEqual([0, 1, 2, 3]);
    expect(a!.eventTables!.filter((t) => t.isCurrent).map((t) => t.tableNo)).toEqual([a!.curTable]);
    expect(a!.eventTables![0]!.tableName).toMatch(/^pgferry\.event_\d+_0$/);

    await new Producer(db.pool, { queue: 'a' }).insertMany(Array.from({ length: 500 }, (_, i) => ({ type: 't', payload: { i, pad: 'x'.repeat(200) } })));
    const [after] = await getQueueStatus(db.pool, 'a');
    const current = (s: typeof after) => s!.eventTables!.find((t) => t.isCurrent)!.bytes;
    expect(current(after)).toBeGreaterThan(current(a));

    const all = await getQueueStatus(db.pool);
    expect(all.map((s) => [s.queueName, s.eventTables!.length])).toEqual([['a', 4], ['b', 3]]);
  });

  it('gives a reader the status without event tables', async () => {
    const [a] = await getQueueStatus(reader, 'a');
    expect(a!.queueName).toBe('a');
    expect(a!.consumerList).toHaveLength(1);
    expect(a!.eventTables).toBeNull();
  });
});
