/**
 * A TypeScript program written against PGQ, with plain `pg` and only pgq.* calls, run by
 * login roles that were granted PGQ's roles (pgq_writer, pgq_reader) as on a database that
 * ran PGQ: producers (some of them rolling back) and a logutriga-captured table on one side,
 * a consumer loop writing each event into a table in its batch's transaction on the other,
 * with the ticker and maintenance called as pgqd does. Every committed event is applied
 * exactly once, nothing rolled back is, and logutriga's rows decode with a standard
 * urlencoded parser.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { installPgq } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { connect, rows, value } from './helpers.js';

const suffix = randomBytes(4).toString('hex');
const producerRole = `pgq_app_producer_${suffix}`;
const consumerRole = `pgq_app_consumer_${suffix}`;

interface Ev {
  ev_id: string;
  ev_type: string;
  ev_data: string;
  ev_extra1: string | null;
  ev_retry: number | null;
}

/** PGQ's consumer loop: next_batch, get_batch_events, process, finish_batch, one transaction each. */
async function consumeOnce(c: pg.Client, handle: (c: pg.Client, ev: Ev) => Promise<'ok' | 'retry'>): Promise<number> {
  await c.query('BEGIN');
  try {
    const batch = await value<string | null>(c, `SELECT pgq.next_batch('app', 'apply')`);
    if (batch === null) {
      await c.query('COMMIT');
      return -1;
    }
    const events = await rows<Ev>(c, 'SELECT ev_id, ev_type, ev_data, ev_extra1, ev_retry FROM pgq.get_batch_events($1)', [batch]);
    for (const ev of events) {
      if ((await handle(c, ev)) === 'retry') await c.query('SELECT pgq.event_retry($1, $2, 0)', [batch, ev.ev_id]);
    }
    expect(await value<number>(c, 'SELECT pgq.finish_batch($1)', [batch])).toBe(1);
    await c.query('COMMIT');
    return events.length;
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}

describe('a TypeScript consumer with plain pg and pgq.* calls', () => {
  const db = useTestDatabase();

  beforeAll(async () => {
    await installPgq(db.pool);
    await db.pool.query(`CREATE ROLE ${producerRole} LOGIN IN ROLE pgq_writer;
      CREATE ROLE ${consumerRole} LOGIN IN ROLE pgq_reader;
      CREATE TABLE customer (id int PRIMARY KEY, name text, vip boolean);
      CREATE TRIGGER customer_q AFTER INSERT OR UPDATE OR DELETE ON customer
        FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('app');
      GRANT INSERT, UPDATE, DELETE, SELECT ON customer TO ${producerRole};
      CREATE TABLE applied (ev_id bigint PRIMARY KEY, kind text, payload text);
      GRANT INSERT ON applied TO ${consumerRole};
      SELECT pgq.create_queue('app');`);
  });
  afterAll(async () => {
    await db.pool.query(`DROP OWNED BY ${producerRole}, ${consumerRole}`).catch(() => undefined);
    await db.pool.query(`DROP ROLE IF EXISTS ${producerRole}; DROP ROLE IF EXISTS ${consumerRole}`).catch(() => undefined);
  });

  it('applies every committed event exactly once, retries included', async () => {
    const consumer = await connect(db.urlAs(consumerRole));
    const producers = await Promise.all([connect(db.urlAs(producerRole)), connect(db.urlAs(producerRole))]);
    try {
      expect(await value<number>(consumer, `SELECT pgq.register_consumer('app', 'apply')`)).toBe(1);

      // Producers: numbered events in transactions of 1..5, every third transaction rolled
      // back; the second producer also writes the captured table.
      const committed = new Set<string>();
      let n = 0;
      const produce = async (p: pg.Client, k: number, tx: number) => {
        await p.query('BEGIN');
        const mine: string[] = [];
        for (let i = 0; i <= tx % 5; i++) {
          const payload = `p${k}-${n++}`;
          await p.query(`SELECT pgq.insert_event('app', 'order', $1, 'extra', NULL, NULL, NULL)`, [payload]);
          mine.push(payload);
        }
        if (k === 1) {
          await p.query(`INSERT INTO customer VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`,
                        [tx % 7, `name ${tx} & co`, tx % 2 === 0]);
          mine.push(`customer:${tx % 7}:name ${tx} & co`);
        }
        if (tx % 3 === 2) {
          await p.query('ROLLBACK');
        } else {
          await p.query('COMMIT');
          for (const m of mine) committed.add(m);
        }
      };

      // The handler: an order is applied (the first time each third one is seen, it is
      // handed back for a retry); a captured row is decoded as PGQ's consumers do.
      const seenOnce = new Set<string>();
      const handle = async (c: pg.Client, ev: Ev): Promise<'ok' | 'retry'> => {
        if (ev.ev_type === 'order') {
          expect(ev.ev_extra1).toBe('extra');
          if (Number(ev.ev_id) % 3 === 0 && !seenOnce.has(ev.ev_data)) {
            seenOnce.add(ev.ev_data);
            expect(ev.ev_retry).toBeNull();
            return 'retry';
          }
          await c.query('INSERT INTO applied VALUES ($1, $2, $3)', [ev.ev_id, 'order', ev.ev_data]);
          return 'ok';
        }
        expect(ev.ev_type).toMatch(/^[IU]:id$/);
        expect(ev.ev_extra1).toBe('public.customer');
        const row = new URLSearchParams(ev.ev_data);
        await c.query('INSERT INTO applied VALUES ($1, $2, $3)', [ev.ev_id, 'customer', `customer:${row.get('id')}:${row.get('name')}`]);
        return 'ok';
      };

      for (let tx = 0; tx < 30; tx++) {
        await Promise.all(producers.map((p, k) => produce(p, k, tx)));
        if (tx % 4 === 0) await db.pool.query('SELECT pgq.ticker()');
        if (tx % 5 === 0) while ((await consumeOnce(consumer, handle)) >= 0);
      }
      // Drain: tick (force_tick + ticker as pgqd would), move due retries, consume until idle.
      for (let round = 0; round < 10; round++) {
        await db.pool.query(`SELECT pgq.force_tick('app')`);
        for (const op of await rows<{ func_name: string; func_arg: string | null }>(db.pool, 'SELECT * FROM pgq.maint_operations()')) {
          await db.pool.query(op.func_arg === null ? `SELECT ${op.func_name}()` : `SELECT ${op.func_name}($1)`,
                              op.func_arg === null ? [] : [op.func_arg]);
        }
        await db.pool.query('SELECT pgq.ticker()');
        while ((await consumeOnce(consumer, handle)) >= 0);
      }

      const applied = await rows<{ payload: string }>(db.pool, 'SELECT payload FROM applied');
      const payloads = applied.map((r) => r.payload);
      expect(new Set(payloads).size).toBe(payloads.length); // nothing twice
      // Every committed order once; the captured rows: each committed version of a customer.
      expect(payloads.filter((p) => !p.startsWith('customer:')).sort()).toEqual(
        [...committed].filter((p) => !p.startsWith('customer:')).sort(),
      );
      expect(payloads.filter((p) => p.startsWith('customer:')).sort()).toEqual(
        [...committed].filter((p) => p.startsWith('customer:')).sort(),
      );
      expect(seenOnce.size).toBeGreaterThan(0);
      const info = (await rows<{ pending_events: string; current_batch: string | null }>(
        consumer, `SELECT * FROM pgq.get_consumer_info('app', 'apply')`))[0]!;
      expect(info.current_batch).toBeNull();
    } finally {
      await Promise.all([consumer, ...producers].map((c) => c.end()));
    }
  });

  it('keeps consumers to the role that registered them, as pgferry does', async () => {
    const other = await connect(db.urlAs(producerRole));
    try {
      const err = await other.query(`SELECT pgq.next_batch('app', 'apply')`).then(() => null, (e: pg.DatabaseError) => e);
      // A writer may not consume at all; a reader may not take another role's consumer (PF007).
      expect(err?.code).toBe('42501');
    } finally {
      await other.end();
    }
  });
});
