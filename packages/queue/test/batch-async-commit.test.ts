/**
 * nextBatch/finishBatch with `asyncCommit` (for a consumer that records its own position,
 * as the replication worker does): the position moves as without it, the setting stays
 * with the call's own transaction (the session keeps its synchronous_commit), and a batch
 * whose finish a crash lost is simply opened again.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { useTestDatabase } from '@pgferry/test/test-database';
import { Producer, createQueue, finishBatch, forceTick, getBatchInfo, nextBatch, registerConsumer } from '../src/index.js';

describe('position calls committed without the flush', () => {
  const db = useTestDatabase();

  it('move the position as usual and leave the session\'s synchronous_commit alone', async () => {
    await createQueue(db.pool, 'ac');
    await registerConsumer(db.pool, 'ac', 'c');
    await new Producer(db.pool, { queue: 'ac' }).insert('t', { n: 1 });
    await forceTick(db.pool, 'ac');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const sync = async () => (await c.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit;
      const before = await sync();
      const b = await nextBatch(c, 'ac', 'c', undefined, { asyncCommit: true });
      expect(b).not.toBeNull();
      expect(await sync()).toBe(before);
      // Open: the same batch again.
      expect(await nextBatch(c, 'ac', 'c', undefined, { asyncCommit: true })).toBe(b);
      const info = await getBatchInfo(c, b!);
      expect(await finishBatch(c, b!, { asyncCommit: true })).toBe(true);
      expect(await sync()).toBe(before);
      expect(await finishBatch(c, b!, { asyncCommit: true, ifOpen: true })).toBe(false);
      expect(await nextBatch(c, 'ac', 'c', undefined, { asyncCommit: true })).toBeNull();
      expect(BigInt(info.tickId)).toBeGreaterThan(BigInt(info.prevTickId));
    } finally {
      await c.end();
    }
  });
});
