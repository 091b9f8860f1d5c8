import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { createQueue, getQueueInfo, registerConsumer, forceTick } from '@pgferry/queue';

describe('CALL pgferry.maint() (for pg_cron)', () => {
  const db = useTestDatabase();

  it('runs both rotation phases in separate transactions', async () => {
    await createQueue(db.pool, 'cron', { config: { rotation_period: 1 } });
    await registerConsumer(db.pool, 'cron', 'c');
    await db.pool.query(`SELECT pgferry.insert_event('cron', 't', 'x')`);
    await forceTick(db.pool, 'cron');
    await db.pool.query(`SELECT pg_sleep(0.01)`);
    await db.pool.query('CALL pgferry.maint()');
    const [after1] = await getQueueInfo(db.pool, 'cron');
    expect(after1!.curTable).toBe(1);
    const { rows } = await db.pool.query(`SELECT queue_switch_step2 IS NOT NULL AS phase2 FROM pgferry.queue`);
    expect(rows[0].phase2).toBe(true);
    // The consumer still sits before that switch: the next rotation must wait for it.
    await db.pool.query(`SELECT pg_sleep(0.01)`);
    await db.pool.query('CALL pgferry.maint()');
    const [after2] = await getQueueInfo(db.pool, 'cron');
    expect(after2!.curTable).toBe(1);
    expect(after2!.rotationBlockedBy).toBe('c');
  });

  it('refuses to run inside a transaction block', async () => {
    const c = await db.pool.connect();
    try {
      await c.query('BEGIN');
      await expect(c.query('CALL pgferry.maint()')).rejects.toThrow(/transaction termination/);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
  });
});
