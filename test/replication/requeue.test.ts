/**
 * The requeue handler between two real servers: a table's changes land as events of a
 * local queue on the subscriber, read there by a Consumer: the copied rows as I events,
 * then each batch's net effect per key (I, U, D; T for a TRUNCATE), exactly once while the
 * worker (a child process) is SIGKILLed during the writes. Bad arguments are refused at
 * add-table, with nothing registered or created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Consumer, capturedTable, forceTick, getQueueInfo, registerConsumer, type QueueEvent } from '@pgferry/queue';
import { HandlerArgsError, addTable, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { startTwoServers, stopTwoServers, waitFor, type TwoServers } from './helpers.js';
import { WorkerProcess } from './worker-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Rows before add-table: more than the copy requeues per statement. */
const INITIAL = 12_000;

/** An event as compared: type, table, key, image and whether it came from the copy. */
// A column named c: the copy's requeue statement reads the rows under that alias.
const image = (id: number, v: string | null, c: number | null) => JSON.stringify({ id: String(id), v, c: c === null ? null : String(c) });
const expectEvent = (type: string, id: number | null, data: string | null, copy = false, table = 'public.ev') =>
  [type, table, id === null ? null : JSON.stringify([String(id)]), data, copy].join(' | ');
const normalize = (json: string | null) => (json === null ? null : JSON.stringify(JSON.parse(json)));
const gotEvent = (ev: QueueEvent) => [ev.type, ev.extra1, normalize(ev.extra2), normalize(ev.data), ev.extra3 === 'copy'].join(' | ');

describe('requeue handler', () => {
  let env: TwoServers;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    env = await startTwoServers('repl-requeue');
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1' });
    await env.provider.query(`CREATE TABLE ev (id int PRIMARY KEY, v text, c int)`);
    await env.provider.query(`INSERT INTO ev SELECT g, 'v' || g, g FROM generate_series(1, ${INITIAL}) g`);
    await env.provider.query(`CREATE TABLE quiet (id int PRIMARY KEY); INSERT INTO quiet SELECT generate_series(1, 50)`);
  });

  afterAll(async () => {
    await worker?.close().catch(() => undefined);
    await stopTwoServers(env);
  });

  it('refuses bad arguments at add-table, registering and creating nothing', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /argument "queue" is missing/],
      [{ queue: 'q', initial: 'all' }, /argument "initial": "all" is neither rows nor none/],
      [{ queue: 'q', qeue: 'x' }, /unknown argument "qeue"/],
      // Checked on the subscriber, in the registering transaction (rolled back).
      [{ queue: 'not a name' }, /argument "queue": cannot create queue "not a name".*invalid queue name/],
    ];
    for (const [handlerArgs, message] of cases) {
      const err = await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'ev', handler: 'requeue', handlerArgs })
        .then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(handlerArgs)).toBeInstanceOf(HandlerArgsError);
      expect((err as Error).message, JSON.stringify(handlerArgs)).toMatch(message);
    }
    expect(await listTables(env.subscriber, 'leaf1')).toEqual([]);
    expect(await capturedTable(env.provider, 'repl', 'public.ev')).toBeUndefined();
    expect((await getQueueInfo(env.subscriber)).map((q) => q.queueName)).toEqual([]);
  });

  it('requeues the copy, then each batch\'s net changes, exactly once across worker kills', { timeout: 180_000 }, async () => {
    const added = await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'ev', handler: 'requeue', handlerArgs: { queue: 'local_ev' } });
    expect(added.handler).toBe('requeue');
    // Into the same queue (there already), without its copied rows.
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'quiet', handler: 'requeue', handlerArgs: { queue: 'local_ev', initial: 'none' } });
    // The queue is there from add-table: a consumer registered now sees everything requeued.
    await registerConsumer(env.subscriber, 'local_ev', 'reader');
    const consumer = new Consumer(env.subscriber, { queue: 'local_ev', name: 'reader', listen: false });
    const got: QueueEvent[] = [];
    const drain = async () => {
      await forceTick(env.subscriber, 'local_ev');
      for await (const batch of consumer.batches({ untilIdle: true })) {
        const events: QueueEvent[] = [];
        for await (const ev of batch.events()) events.push(ev);
        await batch.finish();
        got.push(...events);
      }
    };
    const expected: string[] = [];
    for (let g = 1; g <= INITIAL; g++) expected.push(expectEvent('I', g, image(g, `v${g}`, g), true));

    worker = new WorkerProcess({
      subscriptions: [{ subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000 }],
      tickIntervalMs: 100,
    });
    await worker.start();
    await waitFor('the copies', async () => (await listTables(env.subscriber, 'leaf1')).every((t) => t.state === 'ok'));

    // Each key is changed by one transaction at most after the copy: its events are then
    // those of that transaction's net effect, whatever the batches.
    const untouched = Array.from({ length: INITIAL }, (_, i) => i + 1);
    const take = () => untouched.splice(Math.floor(Math.random() * untouched.length), 1)[0];
    let stopping = false;
    const stats = { commits: 0, rollbacks: 0 };
    const writer = async (firstKey: number) => {
      let next = firstKey;
      while (!stopping) {
        const c = await env.provider.connect();
        const mine: string[] = [];
        const step = async (kind: number) => {
          const k = ++next;
          if (kind === 0) {
            await c.query(`INSERT INTO ev VALUES ($1, 'new', $1)`, [k]);
            mine.push(expectEvent('I', k, image(k, 'new', k)));
          } else if (kind === 1) {
            await c.query(`INSERT INTO ev VALUES ($1, 'new', 1)`, [k]);
            await c.query(`UPDATE ev SET v = 'changed', c = c + 1 WHERE id = $1`, [k]);
            mine.push(expectEvent('I', k, image(k, 'changed', 2)));
          } else if (kind === 2) {
            await c.query(`INSERT INTO ev VALUES ($1, 'gone', 1)`, [k]);
            await c.query(`DELETE FROM ev WHERE id = $1`, [k]);
          } else {
            const id = take();
            if (id === undefined) return;
            if (kind === 3) {
              await c.query(`UPDATE ev SET v = NULL, c = -c WHERE id = $1`, [id]);
              mine.push(expectEvent('U', id, image(id, null, -id)));
            } else if (kind === 4) {
              await c.query(`DELETE FROM ev WHERE id = $1`, [id]);
              mine.push(expectEvent('D', id, image(id, `v${id}`, id)));
            } else {
              await c.query(`UPDATE ev SET v = 'last' WHERE id = $1`, [id]);
              await c.query(`DELETE FROM ev WHERE id = $1`, [id]);
              mine.push(expectEvent('D', id, image(id, 'last', id)));
            }
          }
        };
        try {
          await c.query('BEGIN');
          for (let i = 1 + Math.floor(Math.random() * 3); i > 0; i--) await step(Math.floor(Math.random() * 6));
          if (Math.random() < 0.2) {
            await c.query('ROLLBACK');
            stats.rollbacks++;
          } else {
            await c.query('COMMIT');
            expected.push(...mine);
            stats.commits++;
          }
        } finally {
          c.release();
        }
        await sleep(Math.floor(Math.random() * 15));
      }
    };
    const writers = [writer(100_000), writer(1_000_000)];
    while (worker.kills < 3) {
      await sleep(1500 + Math.floor(Math.random() * 1500));
      await worker.kill();
      await worker.start();
    }
    stopping = true;
    await Promise.all(writers);

    // Everything so far, then a TRUNCATE in a batch of its own: T before the batch's other events.
    await waitFor('the events so far', async () => {
      await drain();
      return got.length >= expected.length;
    }, 90_000, 300);
    await env.provider.query(`BEGIN; TRUNCATE ev; INSERT INTO ev VALUES (5000001, 'after', 7); COMMIT`);
    expected.push(expectEvent('T', null, null), expectEvent('I', 5000001, image(5000001, 'after', 7)));
    await env.provider.query(`INSERT INTO quiet VALUES (51)`);
    expected.push(expectEvent('I', 51, JSON.stringify({ id: '51' }), false, 'public.quiet'));
    // A last row: once it is in, every batch before it is (batches are applied in order).
    await env.provider.query(`INSERT INTO ev VALUES (5000002, 'sentinel', 8)`);
    expected.push(expectEvent('I', 5000002, image(5000002, 'sentinel', 8)));
    await waitFor('the sentinel', async () => {
      await drain();
      return got.some((e) => e.extra2 === '["5000002"]');
    }, 60_000, 300);

    expect(got.map(gotEvent).sort()).toEqual(expected.sort());
    // The T came before the I of its batch; stream events name their provider event.
    const t = got.findIndex((e) => e.type === 'T');
    expect(t).toBeGreaterThan(-1);
    expect(got.findIndex((e) => e.extra2 === '["5000001"]')).toBeGreaterThan(t);
    expect(got.filter((e) => e.extra3 !== 'copy' && e.type !== 'T').every((e) => /^\d+$/.test(e.extra3 ?? ''))).toBe(true);
    // Payloads as a Consumer decodes them: the row's columns as text.
    expect(got.find((e) => e.extra2 === '["5000002"]')!.payload).toEqual({ id: '5000002', v: 'sentinel', c: '8' });
    expect(worker.kills).toBeGreaterThanOrEqual(3);
    expect(stats.commits).toBeGreaterThan(20);
    expect(stats.rollbacks).toBeGreaterThan(0);
    console.log(`${worker.kills} worker SIGKILLs; ${stats.commits} commits, ${stats.rollbacks} rollbacks; ${got.length} events requeued`);
    await consumer.close();
    expect(await worker.stop()).toBe(0);
  });
});
