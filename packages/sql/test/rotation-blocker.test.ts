/**
 * get_queue_info names what actually keeps a queue from rotating: a session whose snapshot
 * is older than the switch, a transaction older than it, a consumer behind it, a lock on
 * the table to empty next, or that the rotation is not due. On a server of its own: other
 * test files' transactions would show up in every tick's snapshot (txids are cluster-wide).
 */
import { describe, expect, it } from 'vitest';
import {
  connect,
  createQueue,
  dataOf,
  drain,
  insertEvent,
  register,
  rotateStep1,
  rotateStep2,
  rows,
  tick,
  useDedicatedDatabase,
  value,
} from './helpers.js';

interface Blocker {
  rotation_blocked_by: string | null;
  rotation_blocker_kind: string | null;
  rotation_blocker_pid: number | null;
  rotation_blocker_detail: string | null;
  rotation_blocker_hint: string | null;
}

describe('what blocks rotation', () => {
  const db = useDedicatedDatabase();
  const Q = 'blk';
  const blocker = async () =>
    (
      await rows<Blocker>(
        db.pool,
        `SELECT rotation_blocked_by, rotation_blocker_kind, rotation_blocker_pid, rotation_blocker_detail, rotation_blocker_hint
           FROM pgferry.get_queue_info($1)`,
        [Q],
      )
    )[0]!;

  it('names the session, transaction, consumer or lock in the way, not a caught-up consumer', async () => {
    const qid = await createQueue(db.pool, Q);
    await register(db.pool, Q, 'c');
    expect(await blocker()).toMatchObject({ rotation_blocker_kind: 'not_due', rotation_blocked_by: null });
    expect((await blocker()).rotation_blocker_detail).toMatch(/next rotation due in .* \(rotation_period 02:00:00\)/);
    await db.pool.query(`SELECT pgferry.set_queue_config($1, 'rotation_period', '1 millisecond')`, [Q]);
    await insertEvent(db.pool, Q, 't', 'a');
    await tick(db.pool, Q);
    expect(dataOf(await drain(db.pool, Q, 'c'))).toEqual(['a']);
    expect(await blocker()).toMatchObject({ rotation_blocker_kind: null, rotation_blocked_by: null });

    // A REPEATABLE READ session holds a snapshot from before the switch: phase 2 waits for
    // it. The consumer is caught up; the session is what blocks.
    const rr = await connect(db.url);
    const rrPid = await value<number>(rr, 'SELECT pg_backend_pid()');
    await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await rr.query('SELECT 1');
    expect(await rotateStep1(db.pool, Q)).toBe(1);
    expect(await rotateStep2(db.pool)).toBe(0);
    let b = await blocker();
    expect(b).toMatchObject({ rotation_blocker_kind: 'snapshot', rotation_blocker_pid: rrPid, rotation_blocked_by: `pid ${rrPid}` });
    expect(b.rotation_blocker_detail).toMatch(new RegExp(`session pid ${rrPid} \\(user \\w+, application '', idle in transaction\\) holds a snapshot from before the last switch`));
    expect(b.rotation_blocker_hint).toContain(`pg_terminate_backend(${rrPid})`);
    await rr.query('COMMIT');
    expect(await rotateStep2(db.pool)).toBe(1);

    // Switch complete, no tick past it yet: the ticker is next.
    b = await blocker();
    expect(b).toMatchObject({ rotation_blocker_kind: 'ticker', rotation_blocked_by: 'ticker', rotation_blocker_pid: null });
    expect(b.rotation_blocker_hint).toMatch(/pgferry tick blk --force/);
    // A tick past the switch: now the consumer that has not consumed it is the blocker.
    await tick(db.pool, Q);
    b = await blocker();
    expect(b).toMatchObject({ rotation_blocker_kind: 'consumer', rotation_blocked_by: 'c', rotation_blocker_pid: null });
    expect(b.rotation_blocker_detail).toMatch(/consumer c is at tick \d+, 1 tick\(s\) and .* behind/);
    expect(b.rotation_blocker_hint).toBe('Let it catch up, or cut it loose: pgferry consumer unregister blk c');
    expect(await rotateStep1(db.pool, Q)).toBe(0);
    await drain(db.pool, Q, 'c');
    expect(await blocker()).toMatchObject({ rotation_blocker_kind: null });

    // A transaction with a txid from before the next switch: ticks cannot pass the switch
    // while it runs (whatever the consumer does).
    const tx = await connect(db.url);
    const txPid = await value<number>(tx, 'SELECT pg_backend_pid()');
    await tx.query('BEGIN');
    await tx.query('SELECT pg_current_xact_id()');
    expect(await rotateStep1(db.pool, Q)).toBe(1);
    expect(await rotateStep2(db.pool)).toBe(1); // an RC transaction between statements holds no snapshot
    await tick(db.pool, Q);
    await drain(db.pool, Q, 'c');
    b = await blocker();
    expect(b).toMatchObject({ rotation_blocker_kind: 'transaction', rotation_blocker_pid: txPid, rotation_blocked_by: `pid ${txPid}` });
    expect(b.rotation_blocker_detail).toMatch(new RegExp(`transaction of session pid ${txPid} \\(database own, .*\\) is older than the last switch`));
    await tx.query('COMMIT');
    await tick(db.pool, Q);
    expect(await blocker()).toMatchObject({ rotation_blocker_kind: 'consumer', rotation_blocked_by: 'c' });
    await drain(db.pool, Q, 'c');

    // A lock on the table the rotation empties next (TRUNCATE takes it with NOWAIT).
    const cur = await value<number>(db.pool, 'SELECT queue_cur_table FROM pgferry.queue WHERE queue_id = $1', [qid]);
    const lk = await connect(db.url);
    const lkPid = await value<number>(lk, 'SELECT pg_backend_pid()');
    await lk.query('BEGIN');
    await lk.query(`LOCK TABLE pgferry.event_${qid}_${(cur + 1) % 3} IN ACCESS SHARE MODE`);
    b = await blocker();
    expect(b).toMatchObject({ rotation_blocker_kind: 'lock', rotation_blocker_pid: lkPid });
    expect(b.rotation_blocker_detail).toContain(`holds AccessShareLock on pgferry.event_${qid}_${(cur + 1) % 3}`);
    expect(await rotateStep1(db.pool, Q)).toBe(0);
    await lk.query('COMMIT');
    expect(await rotateStep1(db.pool, Q)).toBe(1);
    await Promise.all([rr.end(), tx.end(), lk.end()]);
  });
});
