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
    // The consumer still sits before that switch: the next rotation must wait for it. Until
    // a tick past the switch exists, the tick is what it waits for.
    await db.pool.query(`SELECT pg_sleep(0.01)`);
    await db.pool.query('CALL pgferry.maint()');
    const [after2] = await getQueueInfo(db.pool, 'cron');
    expect(after2!.curTable).toBe(1);
    expect(after2!.rotationBlocker.kind).toMatch(/^(ticker|transaction)$/); // other test files' transactions
    // A tick past the switch that the consumer does not take: now the consumer is to blame.
    // (Other test files' transactions on the shared server can hold tick snapshots back.)
    let after3 = after2!;
    for (let i = 0; i < 300 && after3.rotationBlocker.kind !== 'consumer'; i++) {
      await forceTick(db.pool, 'cron');
      await db.pool.query('CALL pgferry.maint()');
      [after3] = (await getQueueInfo(db.pool, 'cron')) as [typeof after3];
    }
    expect(after3.curTable).toBe(1);
    expect(after3).toMatchObject({ rotationBlockedBy: 'c', rotationBlocker: { kind: 'consumer', pid: null } });
    expect(after3.rotationBlocker.hint).toBe('Let it catch up, or cut it loose: pgferry consumer unregister cron c');
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
