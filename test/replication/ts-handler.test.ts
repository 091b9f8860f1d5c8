/**
 * A user's TypeScript handler (fixtures/big-orders.ts: filter, transform into another
 * table, an audit row per change in the same transaction), loaded from its own directory
 * through the worker's config by the real `pgferry replicate worker --config` binary.
 * Then a version that throws for one key: the stream stops with an error naming the
 * handler, table, key and event, retries, and nothing of the batch lands; a bad config on
 * SIGHUP is refused and the worker goes on; once the module is fixed and the worker gets
 * SIGHUP, it resumes and every change lands exactly once.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { getBatchEvents, getConsumerInfo } from '@pgferry/queue';
import { BUILT_IN_HANDLERS, createLeafNode, createRootNode, getStatus } from '@pgferry/replicator';
import { pgferry, spawnPgferry } from './cli.js';
import { waitFor } from './helpers.js';

const FIXED = readFileSync(new URL('./fixtures/big-orders.ts', import.meta.url), 'utf8');
const FIX_LINE = "if (row.status === 'poison') row.status = 'quarantined';";
const BROKEN = FIXED.replace(FIX_LINE, `if (row.status === 'poison') throw new Error('cannot land an order whose status is "poison"');`);

describe('a TypeScript handler module named in the worker config', () => {
  const prov = useTestDatabase({ install: false });
  const sub = useTestDatabase({ install: false });
  const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-handler-'));
  const moduleFile = path.join(dir, 'handlers', 'big-orders.mts');
  const configFile = path.join(dir, 'replicate.json');
  let worker: ReturnType<typeof spawnPgferry> | undefined;

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
  });

  const big = async () => (await sub.pool.query('SELECT id, status, amount_cents FROM orders_big ORDER BY id')).rows;
  /** order id -> the audit ops of its changes (copy rows apart). */
  const audited = async () =>
    (await sub.pool.query<{ order_id: number; ops: string[] }>(`SELECT order_id, array_agg(op ORDER BY event_id) AS ops FROM orders_audit WHERE op <> 'copy' GROUP BY 1 ORDER BY 1`)).rows;
  const auditedEvents = async () => (await sub.pool.query<{ n: number; distinct: number }>(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct FROM orders_audit WHERE op <> 'copy'`)).rows[0]!;

  it('filters, transforms and audits in the batch transaction, from a module in its own directory', async () => {
    await prov.pool.query('CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, amount int NOT NULL)');
    await prov.pool.query(`INSERT INTO orders SELECT g, 'new', g * 50 FROM generate_series(1, 6) g`); // 50 .. 300
    await sub.pool.query('CREATE TABLE orders_big (id int PRIMARY KEY, status text NOT NULL, amount_cents int NOT NULL)');
    await sub.pool.query('CREATE TABLE orders_audit (event_id bigint, order_id int NOT NULL, op text NOT NULL)');
    await createRootNode(prov.pool, { node: 'root', queue: 'repl' });
    await createLeafNode(prov.pool, sub.pool, { node: 'leaf1' });

    mkdirSync(path.dirname(moduleFile), { recursive: true });
    writeFileSync(moduleFile, FIXED);
    const config = {
      subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000 }],
      handlers: { 'big-orders': './handlers/big-orders.mts' },
      tickIntervalMs: 50,
      metrics: { port: 0, host: '127.0.0.1' },
    };
    writeFileSync(configFile, JSON.stringify(config, null, 2));

    const add = await pgferry([
      'replicate', 'add-table', 'orders', '--provider', prov.url, '--subscriber', sub.url, '--node', 'leaf1', '--dest', 'orders_big',
      '--handler', 'big-orders', '--handler-arg', 'target=orders_big', '--handler-arg', 'audit=orders_audit', '--handler-arg', 'min_amount=150',
      '--config', configFile,
    ]);
    expect(add.stderr).toBe('');
    expect(add).toMatchObject({ code: 0, stdout: 'added public.orders -> orders_big (in-copy, handler big-orders (audit=orders_audit target=orders_big min_amount=150))\n' });

    const handlers = await pgferry(['replicate', 'handlers', '--config', configFile, '--json']);
    expect(JSON.parse(handlers.stdout)).toEqual([
      ...BUILT_IN_HANDLERS.map((h) => ({ name: h.name, description: h.description })),
      { name: 'big-orders', description: 'orders of at least min_amount, in cents, into target; an audit row for every change' },
    ]);

    worker = spawnPgferry(['replicate', 'worker', '--config', configFile]);
    await waitFor('the copy to land and the table to be handed over', async () => (await getStatus(sub.pool, 'leaf1')).tables[0]?.state === 'ok');
    expect(await big()).toEqual([3, 4, 5, 6].map((id) => ({ id, status: 'new', amount_cents: id * 5000 })));
    expect((await sub.pool.query(`SELECT count(*)::int AS n FROM orders_audit WHERE op = 'copy'`)).rows[0].n).toBe(6);

    await prov.pool.query(`BEGIN; INSERT INTO orders VALUES (7, 'new', 500), (8, 'new', 10); UPDATE orders SET amount = 100 WHERE id = 3; UPDATE orders SET status = 'paid' WHERE id = 4; DELETE FROM orders WHERE id = 5; COMMIT`);
    await waitFor('the changes to land', async () => (await audited()).length === 5);
    expect(await big()).toEqual([
      { id: 4, status: 'paid', amount_cents: 20000 },
      { id: 6, status: 'new', amount_cents: 30000 },
      { id: 7, status: 'new', amount_cents: 50000 },
    ]);
    expect(await audited()).toEqual([
      { order_id: 3, ops: ['upsert'] },
      { order_id: 4, ops: ['upsert'] },
      { order_id: 5, ops: ['delete'] },
      { order_id: 7, ops: ['upsert'] },
      { order_id: 8, ops: ['upsert'] },
    ]);

    // status shows the table's handler and its arguments; the metrics its state and handler.
    const status = await pgferry(['replicate', 'status', '--subscriber', sub.url, '--provider', prov.url, '--node', 'leaf1']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('public.orders -> orders_big: ok, handler big-orders (audit=orders_audit target=orders_big min_amount=150)');
    const port = /serving metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(worker.log())?.[1];
    expect(port).toBeDefined();
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('pgferry_replication_table_state{subscription="leaf1",table="orders_big",state="ok",handler="big-orders"} 1');
    expect(metrics).toMatch(/pgferry_ticker_connected\{database="[^"]+"\} 1/);
    expect(metrics).toMatch(/pgferry_replication_batches_total\{subscription="leaf1"\} [1-9]/);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('stops on a handler error naming the handler, table, key and event; nothing of the batch lands; resumes once fixed', async () => {
    const w = worker!;
    onTestFailed(() => console.error(`worker log:\n${w.log()}`));
    writeFileSync(moduleFile, BROKEN);
    w.child.kill('SIGHUP');
    await waitFor('the reload with the new module', async () => /handler modules loaded again/.test(w.log()));
    const before = { big: await big(), audited: await audited() };

    await prov.pool.query(`BEGIN; INSERT INTO orders VALUES (20, 'new', 900), (21, 'poison', 900), (22, 'new', 900); UPDATE orders SET status = 'shipped' WHERE id = 4; COMMIT`);
    await waitFor('the error, retried', async () => {
      const st = await getStatus(sub.pool, 'leaf1');
      return /handler "big-orders"/.test(st.lastError ?? '') && w.log().split('cannot land an order').length > 3;
    });
    const [consumer] = await getConsumerInfo(prov.pool, 'repl', 'leaf1');
    expect(consumer?.currentBatch).not.toBeNull();
    const poison = (await getBatchEvents(prov.pool, consumer!.currentBatch!)).find((e) => e.data?.includes('poison'))!;
    const expected = `handler "big-orders": cannot apply key ["21"] to table orders_big (event ${poison.id}): cannot land an order whose status is "poison"`;
    expect((await getStatus(sub.pool, 'leaf1')).lastError).toBe(expected);
    expect(w.log()).toContain(`[leaf1] main: ${expected}`);
    const status = await pgferry(['replicate', 'status', '--subscriber', sub.url, '--node', 'leaf1', '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout).lastError).toBe(expected);
    // Nothing of the batch: neither the orders before and after the poisoned one, nor the
    // update of another key, nor any audit row.
    expect({ big: await big(), audited: await audited() }).toEqual(before);

    // A bad config on SIGHUP is refused: the running one stays (still failing, still retrying).
    writeFileSync(configFile, '{ "subscriptions": "oops" }');
    w.child.kill('SIGHUP');
    await waitFor('the refused reload', async () => /config reload refused, keeping the running config: invalid config .*subscriptions: /.test(w.log()));
    expect(w.child.exitCode).toBeNull();

    // Fixed module, good config, SIGHUP: the batch lands, each change once.
    writeFileSync(moduleFile, FIXED);
    writeFileSync(configFile, JSON.stringify({
      subscriptions: [{ subscription: 'leaf1', provider: prov.url, subscriber: sub.url, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000 }],
      handlers: { 'big-orders': './handlers/big-orders.mts' },
      tickIntervalMs: 50,
      metrics: { port: 0, host: '127.0.0.1' },
    }));
    w.child.kill('SIGHUP');
    await waitFor('the batch to land', async () => (await audited()).some((a) => a.order_id === 22));
    await waitFor('the error to clear', async () => (await getStatus(sub.pool, 'leaf1')).lastError === null);
    expect(await big()).toEqual([
      { id: 4, status: 'shipped', amount_cents: 20000 },
      { id: 6, status: 'new', amount_cents: 30000 },
      { id: 7, status: 'new', amount_cents: 50000 },
      { id: 20, status: 'new', amount_cents: 90000 },
      { id: 21, status: 'quarantined', amount_cents: 90000 },
      { id: 22, status: 'new', amount_cents: 90000 },
    ]);
    expect(await audited()).toEqual([
      { order_id: 3, ops: ['upsert'] },
      { order_id: 4, ops: ['upsert', 'upsert'] },
      { order_id: 5, ops: ['delete'] },
      { order_id: 7, ops: ['upsert'] },
      { order_id: 8, ops: ['upsert'] },
      { order_id: 20, ops: ['upsert'] },
      { order_id: 21, ops: ['upsert'] },
      { order_id: 22, ops: ['upsert'] },
    ]);
    const events = await auditedEvents();
    expect(events).toEqual({ n: 9, distinct: 9 }); // one audit row per change event: exactly once

    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.log()).toContain('pgferry replicate worker stopped');
  }, 180_000);
});
