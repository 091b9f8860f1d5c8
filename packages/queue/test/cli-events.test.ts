/**
 * The real `pgferry` binary: events (batch, tail, tail --follow), dead letters (list,
 * replay, purge), tick and maint; and --help with examples on every command.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { useTestDatabase } from '@pgferry/test/test-database';
import {
  Producer,
  createQueue,
  deadLetterEvents,
  finishBatch,
  forceTick,
  getBatchEvents,
  getQueueInfo,
  listDeadLetters,
  nextBatch,
  registerConsumer,
  retryEvents,
  setQueueConfig,
} from '../src/index.js';
import { buildProgram } from '../src/cli/program.js';
import { io } from '../src/cli/options.js';
import { BIN, pgferry, pgferryJson } from './cli-helpers.js';

describe('pgferry CLI: events, dead letters, tick, maint', () => {
  const db = useTestDatabase();

  it('shows an open batch and tails a queue, also following new ticks', async () => {
    await createQueue(db.pool, 'orders');
    await registerConsumer(db.pool, 'orders', 'billing');
    const producer = new Producer(db.pool, { queue: 'orders' });
    await producer.insert('created', { id: 1 });
    await producer.insert('created', { id: 2 });
    await forceTick(db.pool, 'orders');
    await producer.insert('paid', { id: 1 }); // not ticked yet: not in the batch, not in tail

    const batchId = (await nextBatch(db.pool, 'orders', 'billing'))!;
    const shown = await pgferry(['events', 'batch', batchId, '--db', db.url]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/consumer:\s+billing/);
    expect(shown.stdout).toMatch(/events:\s+2/);
    expect(shown.stdout).toMatch(/ID\s+TIME\s+TXID\s+RETRY\s+TYPE\s+DATA/);
    expect(shown.stdout).toMatch(/created\s+\{"id":2\}/);
    const shownJson = await pgferryJson<{ batch: { consumerName: string }; events: { type: string; data: string }[] }>([
      'events', 'batch', batchId, '--db', db.url,
    ]);
    expect(shownJson.batch.consumerName).toBe('billing');
    expect(shownJson.events.map((e) => JSON.parse(e.data))).toEqual([{ id: 1 }, { id: 2 }]);
    await finishBatch(db.pool, batchId);
    const closed = await pgferry(['events', 'batch', batchId, '--db', db.url]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain(`batch ${batchId} is not open`);

    const tail = await pgferryJson<{ type: string; data: string }[]>(['events', 'tail', 'orders', '-n', '1', '--db', db.url]);
    expect(tail.map((e) => JSON.parse(e.data))).toEqual([{ id: 2 }]);

    // --follow prints each new tick's events (NDJSON with --json) until SIGTERM.
    // It starts after the current last tick, whenever the process gets going.
    const from = (await getQueueInfo(db.pool, 'orders'))[0]!.lastTickId;
    const child = spawn(process.execPath, [BIN, 'events', 'tail', 'orders', '--from-tick', from, '--follow', '--poll', '50', '--json', '--db', db.url]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: string });
    await forceTick(db.pool, 'orders'); // brings the 'paid' event
    await producer.insert('shipped', { id: 1 });
    await forceTick(db.pool, 'orders');
    for (let i = 0; i < 600 && lines().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines().map((e) => [e.type, JSON.parse(e.data)])).toEqual([
      ['paid', { id: 1 }],
      ['shipped', { id: 1 }],
    ]);
  });

  it('lists, replays and purges dead letters', async () => {
    await createQueue(db.pool, 'mail');
    await registerConsumer(db.pool, 'mail', 'sender');
    await new Producer(db.pool, { queue: 'mail' }).insertMany(
      Array.from({ length: 3 }, (_, i) => ({ type: 'send', payload: { to: `u${i}` } })),
    );
    await forceTick(db.pool, 'mail');
    const batch = (await nextBatch(db.pool, 'mail', 'sender'))!;
    const evs = await getBatchEvents(db.pool, batch);
    await deadLetterEvents(db.pool, batch, evs.map((e) => e.id), 'smtp refused');
    await finishBatch(db.pool, batch);

    const list = await pgferry(['dead-letter', 'list', 'mail', '--db', db.url]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+CONSUMER\s+TIME\s+EVENT\s+RETRIES\s+TYPE\s+REASON\s+DATA/);
    expect(list.stdout.trim().split('\n')).toHaveLength(4);
    expect(list.stdout).toMatch(/sender\s+.*send\s+smtp refused\s+\{"to":"u0"\}/);
    const json = await pgferryJson<{ id: string; reason: string }[]>(['dead-letter', 'list', 'mail', '-c', 'sender', '--db', db.url]);
    expect(json.map((d) => d.reason)).toEqual(['smtp refused', 'smtp refused', 'smtp refused']);

    const replay = await pgferry(['dead-letter', 'replay', 'mail', 'sender', json[0]!.id, '--db', db.url]);
    expect(replay).toMatchObject({ code: 0, stdout: '1 dead letter(s) of "sender" sent back to queue "mail"\n' });
    expect((await getQueueInfo(db.pool, 'mail'))[0]).toMatchObject({ retryPending: 1, deadLetters: 2 });

    const unsafe = await pgferry(['dead-letter', 'purge', 'mail', '--db', db.url]);
    expect(unsafe.code).toBe(2);
    expect(unsafe.stderr).toContain('--yes');
    const purge = await pgferryJson<{ purged: number }>(['dead-letter', 'purge', 'mail', '--consumer', 'sender', '--db', db.url]);
    expect(purge.purged).toBe(2);
    expect(await listDeadLetters(db.pool, 'mail')).toEqual([]);

    const unknown = await pgferry(['dead-letter', 'list', 'nope', '--db', db.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('queue "nope" does not exist');
  });

  it('ticks and runs maintenance once', async () => {
    await createQueue(db.pool, 'metrics');
    await setQueueConfig(db.pool, 'metrics', { ticker_max_count: 1 });
    await new Producer(db.pool, { queue: 'metrics' }).insert('m', { v: 1 });
    const before = Number((await getQueueInfo(db.pool, 'metrics'))[0]!.lastTickId);

    const ticked = await pgferryJson<{ ticks: number }>(['tick', 'metrics', '--db', db.url]);
    expect(ticked.ticks).toBe(1);
    const after = Number((await getQueueInfo(db.pool, 'metrics'))[0]!.lastTickId);
    expect(after).toBeGreaterThan(before);

    const forced = await pgferry(['tick', 'metrics', '--force', '--db', db.url]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^queue "metrics": tick (\d+)\n$/);
    expect(Number(/tick (\d+)/.exec(forced.stdout)![1])).toBeGreaterThan(after);

    // A due retry comes back into its queue with maintenance.
    await createQueue(db.pool, 'retry');
    await registerConsumer(db.pool, 'retry', 'c');
    await new Producer(db.pool, { queue: 'retry' }).insert('r', { v: 1 });
    await forceTick(db.pool, 'retry');
    const b = (await nextBatch(db.pool, 'retry', 'c'))!;
    const [ev] = await getBatchEvents(db.pool, b);
    await retryEvents(db.pool, b, [ev!.id], 0);
    await finishBatch(db.pool, b);
    const due = (await getQueueInfo(db.pool)).reduce((n, q) => n + q.retryPending, 0);
    expect((await getQueueInfo(db.pool, 'retry'))[0]!.retryPending).toBe(1);
    const maint = await pgferryJson<{ retriesMoved: number; rotations: number }>(['maint', '--db', db.url]);
    expect(maint.retriesMoved).toBe(due);
    expect((await getQueueInfo(db.pool, 'retry'))[0]!.retryPending).toBe(0);
    const text = await pgferry(['maint', '--db', db.url]);
    expect(text.stdout).toMatch(/^maintenance done: \d+ rotation step\(s\), 0 retried event\(s\) moved back\n$/);

    // A queue broken behind pgferry's back: its failure is printed, the exit code says so,
    // and the other queues are maintained all the same.
    await createQueue(db.pool, 'cracked');
    await db.pool.query(`ALTER TABLE pgferry.queue DROP CONSTRAINT queue_rotation_period_range`);
    await db.pool.query(`UPDATE pgferry.queue SET queue_rotation_period = '300000 years' WHERE queue_name = 'cracked'`);
    try {
      await new Producer(db.pool, { queue: 'retry' }).insert('r', { v: 2 });
      await forceTick(db.pool, 'retry');
      const b2 = (await nextBatch(db.pool, 'retry', 'c'))!;
      const b2Events = await retryEvents(db.pool, b2, (await getBatchEvents(db.pool, b2)).map((e) => e.id), 0);
      expect(b2Events).toBeGreaterThan(0);
      await finishBatch(db.pool, b2);
      const broken = await pgferry(['maint', '--db', db.url]);
      expect(broken.code).toBe(1);
      const pending = b2Events;
      expect(broken.stdout).toMatch(new RegExp(`^maintenance done: \\d+ rotation step\\(s\\), ${pending} retried event\\(s\\) moved back\n`));
      expect(broken.stdout).toContain('pgferry.maint_rotate_tables_step1 failed for queue "cracked": timestamp out of range\n');
      expect(broken.stderr).toBe('pgferry: 1 maintenance operation(s) failed (the other queues were maintained)\n');
      expect((await getQueueInfo(db.pool, 'retry'))[0]!.retryPending).toBe(0);
    } finally {
      await db.pool.query(`DELETE FROM pgferry.queue WHERE queue_name = 'cracked'`);
      await db.pool.query(`ALTER TABLE pgferry.queue ADD CONSTRAINT queue_rotation_period_range
        CHECK (queue_rotation_period BETWEEN interval '1 millisecond' AND interval '1 year')`);
    }
  });
});

describe('pgferry --help', () => {
  it('has a description, usage and examples for every command', () => {
    const leaves: Command[] = [];
    const walk = (c: Command) => (c.commands.length ? c.commands.forEach(walk) : leaves.push(c));
    const program = buildProgram();
    walk(program);
    expect(leaves.length).toBeGreaterThanOrEqual(20);
    const saved = io.out;
    try {
      for (const cmd of leaves) {
        if (cmd.name() === 'help') continue;
        let text = '';
        io.out = { write: (s: string) => void (text += s) };
        cmd.outputHelp();
        expect(cmd.description(), cmd.name()).not.toBe('');
        expect(text, cmd.name()).toContain('Usage: pgferry ');
        expect(text, cmd.name()).toMatch(/Examples:\n {2}\$ pgferry /);
      }
    } finally {
      io.out = saved;
    }
  });
});
