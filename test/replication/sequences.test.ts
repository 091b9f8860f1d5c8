/**
 * Replicated sequences. The claim: a subscriber's sequence is never behind its provider's
 * as of the tick the subscriber has applied, whatever happens (concurrent writers, rolled-back
 * nextval calls, which advance a sequence too, worker SIGKILLs), equal to it once caught up,
 * and a new root's sequences come after every value the old root handed out (switchover) or
 * after every value replicated to it (takeover).
 *
 * How "as of the applied tick" is checked: every writer records each value it draws with
 * its transaction id, committed or rolled back. A transaction that ended before tick T (its
 * txid visible in T's snapshot) drew its values before T, so at a check the subscriber's
 * value must be at least (at most, for a descending sequence) every value drawn by those.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { setQueueConfig } from '@pgferry/queue';
import {
  ReplicationWorker,
  SequenceNotFoundError,
  addAllSequences,
  addSequence,
  addTable,
  createLeafNode,
  createRootNode,
  getStatus,
  listSequences,
  listTables,
  removeSequence,
  replicationMetrics,
  switchover,
  takeover,
} from '@pgferry/replicator';
import { pgferry } from './cli.js';
import { rng, startTwoServers, stopTwoServers, tableJson, waitFor, type TwoServers } from './helpers.js';
import { startCascade, stopCascade, type Cascade } from './cascade-env.js';
import { WorkerProcess } from './worker-process.js';

const SEED = Number(process.env.PGFERRY_SEQUENCES_SEED ?? Date.now() % 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ORDERS = 'CREATE TABLE orders (id bigserial PRIMARY KEY, writer int NOT NULL, note text)';

interface Draw {
  txid: string;
  seq: string;
  value: bigint;
}

/**
 * Writers drawing sequence values in random transactions on `db()` (inserts into orders,
 * whose id is nextval of orders_id_seq, and plain nextval calls of `extra`), a quarter of
 * them rolled back. Every drawn value is recorded with its txid once the statement that drew
 * it succeeded; a statement that fails (a queue closed for a switchover, a server killed)
 * draws nothing recorded, and the writer goes on.
 */
class SequenceWriters {
  readonly draws: Draw[] = [];
  commits = 0;
  rollbacks = 0;
  errors = 0;
  private stopping = false;
  private readonly listening = new WeakSet<pg.PoolClient>();
  private running: Promise<void>[] = [];
  private readonly random: () => number;

  constructor(
    private readonly db: () => pg.Pool,
    seed: number,
    private readonly extra: string[] = [],
  ) {
    this.random = rng(seed);
  }

  start(writers = 4): this {
    for (let w = 0; w < writers; w++) this.running.push(this.loop(w));
    return this;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  /** The largest value drawn of `seq` (undefined: none). */
  max(seq: string, filter: (d: Draw) => boolean = () => true): bigint | undefined {
    let m: bigint | undefined;
    for (const d of this.draws) if (d.seq === seq && filter(d) && (m === undefined || d.value > m)) m = d.value;
    return m;
  }

  private async loop(writer: number): Promise<void> {
    while (!this.stopping) {
      const client = await this.db().connect().catch(() => null);
      if (!client) {
        this.errors++;
        await sleep(100);
        continue;
      }
      // A server killed under it: the query fails, and that is counted.
      if (!this.listening.has(client)) client.on('error', () => undefined);
      this.listening.add(client);
      let broken = false;
      try {
        await client.query('BEGIN');
        const txid = (await client.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
        const n = 1 + Math.floor(this.random() * 4);
        const ids = await client.query<{ id: string }>('INSERT INTO orders (writer, note) SELECT $1, $2 FROM generate_series(1, $3) RETURNING id', [writer, `w${writer}`, n]);
        for (const r of ids.rows) this.draws.push({ txid, seq: 'public.orders_id_seq', value: BigInt(r.id) });
        for (const seq of this.extra) {
          const v = (await client.query<{ v: string }>('SELECT nextval($1::regclass)::text AS v', [seq])).rows[0]!.v;
          this.draws.push({ txid, seq, value: BigInt(v) });
        }
        if (this.random() < 0.25) {
          await client.query('ROLLBACK');
          this.rollbacks++;
        } else {
          await client.query('COMMIT');
          this.commits++;
        }
      } catch {
        this.errors++;
        broken = true;
        await sleep(20);
      } finally {
        if (broken) await client.query('ROLLBACK').catch(() => undefined);
        client.release(broken);
      }
      await sleep(Math.floor(this.random() * 15));
    }
  }
}

/** Last values of sequences on a database (null: not used yet), by canonical name. */
async function seqValues(db: pg.Pool): Promise<Map<string, bigint | null>> {
  const { rows } = await db.query<{ name: string; v: string | null }>(
    `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS v FROM pg_sequences WHERE schemaname = 'public'`,
  );
  return new Map(rows.map((r) => [r.name, r.v === null ? null : BigInt(r.v)]));
}

async function appliedTick(db: pg.Pool, node: string): Promise<string | null> {
  return (await db.query<{ t: string | null }>('SELECT at_tick_id::text AS t FROM pgferry.applied_tick WHERE at_subscription = $1', [node])).rows[0]?.t ?? null;
}

/**
 * The extreme value of `seq` drawn by transactions that ended before tick `tick` of the
 * root (max, or min for a descending sequence); undefined when the tick is gone or none.
 */
async function drawnBefore(root: pg.Pool, tick: string, draws: Draw[], seq: string, descending: boolean): Promise<bigint | undefined> {
  const mine = draws.filter((d) => d.seq === seq);
  const { rows } = await root.query<{ v: string | null }>(
    `SELECT (SELECT ${descending ? 'min' : 'max'}(x.v) FROM unnest($2::xid8[], $3::bigint[]) AS x(t, v)
              WHERE pg_visible_in_snapshot(x.t, k.tick_snapshot))::text AS v
       FROM pgferry.tick k WHERE k.tick_id = $1`,
    [tick, mine.map((d) => d.txid), mine.map((d) => d.value.toString())],
  );
  return rows[0]?.v ? BigInt(rows[0].v) : undefined;
}

/**
 * Check once that `node`'s sequences on `db` are not behind what the writers drew before
 * its applied tick: its tick first, then its values (which only move forward). Returns
 * whether a check could be made (the tick still on the root).
 */
async function checkNotBehind(root: pg.Pool, db: pg.Pool, node: string, writers: SequenceWriters, seqs: { name: string; descending?: boolean }[]): Promise<boolean> {
  const tick = await appliedTick(db, node);
  if (tick === null) return false;
  const values = await seqValues(db);
  let checked = false;
  for (const s of seqs) {
    const bound = await drawnBefore(root, tick, writers.draws, s.name, s.descending ?? false);
    if (bound === undefined) continue;
    const v = values.get(s.name);
    expect(v, `${s.name} on ${node} at tick ${tick}: not set`).not.toBeNull();
    if (s.descending) expect(v!, `${s.name} on ${node} at tick ${tick}: behind ${bound}`).toBeLessThanOrEqual(bound);
    else expect(v!, `${s.name} on ${node} at tick ${tick}: behind ${bound}`).toBeGreaterThanOrEqual(bound);
    checked = true;
  }
  return checked;
}

/** Check repeatedly until `stop` resolves. */
async function checkWhile(stop: Promise<unknown>, check: () => Promise<unknown>): Promise<void> {
  let done = false;
  void stop.finally(() => (done = true));
  while (!done) {
    await check();
    await sleep(150);
  }
}

describe(`sequences on two servers (seed ${SEED})`, () => {
  let env: TwoServers;
  let worker: WorkerProcess;
  const random = rng(SEED);

  beforeAll(async () => {
    env = await startTwoServers('sequences');
    await env.provider.query(`${ORDERS};
      CREATE SEQUENCE countdown INCREMENT BY -1 MINVALUE -1000000000 MAXVALUE 0 START 0;
      CREATE SEQUENCE invoice_no START 1000 INCREMENT BY 7;
      CREATE SEQUENCE unused_seq;
      CREATE SEQUENCE cli_seq START 50;`);
    await createRootNode(env.provider, { node: 'root', queue: 'repl' });
    await setQueueConfig(env.provider, 'repl', { ticker_idle_period: 500 });
    await createLeafNode(env.provider, env.subscriber, { node: 'leaf1', providerLocation: env.providerUrl });
    worker = new WorkerProcess({
      // The provider configured: its ticker starts at once after each kill (one followed from
      // the node's row starts only after the worker's first follow round).
      subscriptions: [{ subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl, pollIntervalMs: 50, retryMinMs: 100, retryMaxMs: 1000 }],
      tickIntervalMs: 50,
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.close().catch(() => undefined);
    await stopTwoServers(env);
  });

  it('add-sequence checks both sides first and names what is wrong; --create copies the definition; set at once', async () => {
    const add = (sequence: string, o: { dest?: string; create?: boolean } = {}) => addSequence(env.provider, env.subscriber, { subscription: 'leaf1', sequence, ...o });
    await expect(add('nope_seq')).rejects.toThrow(SequenceNotFoundError);
    await expect(add('nope_seq')).rejects.toThrow(/^sequence "nope_seq" does not exist on the provider/);
    await expect(add('orders')).rejects.toThrow(/"orders" on the provider is not a sequence/);
    await expect(add('pgferry.tick_id_seq')).rejects.toThrow(/one of pgferry's own sequences/);
    await env.provider.query(`SELECT nextval('invoice_no') FROM generate_series(1, 3)`); // 1000, 1007, 1014
    const missing = add('invoice_no');
    await expect(missing).rejects.toThrow(SequenceNotFoundError);
    await expect(missing).rejects.toThrow(/sequence "public.invoice_no" does not exist on the subscriber \(create it there, or pass create: true \/ --create/);
    await env.subscriber.query('CREATE SEQUENCE wrong_way INCREMENT BY -1');
    await expect(add('invoice_no', { dest: 'wrong_way' })).rejects.toThrow(/wrong_way on the subscriber counts the other way/);
    // Refused: nothing changed.
    expect(await listSequences(env.subscriber, 'leaf1')).toEqual([]);
    expect((await seqValues(env.subscriber)).has('public.invoice_no')).toBe(false);
    await expect(addAllSequences(env.provider, env.subscriber, { subscription: 'leaf1' })).rejects.toThrow(/has no tables/);

    const s = await add('invoice_no', { create: true });
    expect(s).toMatchObject({ subscription: 'leaf1', source: 'public.invoice_no', dest: 'public.invoice_no', lastValue: '1014' });
    const def = await env.subscriber.query(`SELECT increment_by::text, start_value::text, data_type::text FROM pg_sequences WHERE sequencename = 'invoice_no'`);
    expect(def.rows[0]).toEqual({ increment_by: '7', start_value: '1000', data_type: 'bigint' });
    expect((await seqValues(env.subscriber)).get('public.invoice_no')).toBe(1014n);
    await expect(add('invoice_no', { create: true })).rejects.toThrow(/is in subscription "leaf1" already/);
    await expect(removeSequence(env.subscriber, { subscription: 'leaf1', sequence: 'nope_seq' })).rejects.toThrow(/sequence "nope_seq" is not in subscription "leaf1"/);

    // The schemas of the subscription's tables: orders_id_seq, countdown, unused_seq, cli_seq.
    await addTable(env.provider, env.subscriber, { subscription: 'leaf1', table: 'orders', create: true });
    const all = await addAllSequences(env.provider, env.subscriber, { subscription: 'leaf1', create: true });
    expect(all.map((q) => [q.source, q.lastValue])).toEqual([
      ['public.cli_seq', null],
      ['public.countdown', null],
      ['public.orders_id_seq', null],
      ['public.unused_seq', null],
    ]);
    await removeSequence(env.subscriber, { subscription: 'leaf1', sequence: 'cli_seq' }); // for the CLI's test
    expect((await listSequences(env.subscriber, 'leaf1')).map((q) => q.source)).toEqual(['public.countdown', 'public.invoice_no', 'public.orders_id_seq', 'public.unused_seq']);
  });

  it('sets sequences forward only, by is_called and by the increment\'s sign', async () => {
    const fwd = async (seq: string, v: number) => (await env.subscriber.query<{ m: boolean }>(`SELECT pgferry.sequence_set_forward($1::regclass, $2) AS m`, [seq, v])).rows[0]!.m;
    const next = async (seq: string) => BigInt((await env.subscriber.query<{ v: string }>(`SELECT nextval($1::regclass)::text AS v`, [seq])).rows[0]!.v);
    await env.subscriber.query(`CREATE SEQUENCE up; CREATE SEQUENCE down INCREMENT BY -1 MAXVALUE 0 START 0`);
    await env.subscriber.query(`SELECT setval('up', 10, false)`); // nextval gives 10
    expect(await fwd('up', 9)).toBe(false);
    expect(await fwd('up', 10)).toBe(true); // 10 was used on the provider: nextval must not give it
    expect(await next('up')).toBe(11n);
    expect(await fwd('up', 11)).toBe(false);
    expect(await fwd('up', 5)).toBe(false);
    expect(await next('up')).toBe(12n);
    expect(await fwd('down', 1)).toBe(false); // ahead: a descending sequence goes down
    expect(await fwd('down', -5)).toBe(true);
    expect(await next('down')).toBe(-6n);
    expect(await fwd('down', -3)).toBe(false);
    await expect(env.subscriber.query(`SELECT pgferry.sequence_set_forward('orders'::regclass, 1)`)).rejects.toThrow(/is not a sequence/);
  });

  it('is never behind the provider as of the applied tick under concurrent writers, rollbacks and worker SIGKILLs; equal once caught up', { timeout: 600_000 }, async () => {
    await worker.start();
    await waitFor('orders ok', async () => (await listTables(env.subscriber, 'leaf1')).every((t) => t.state === 'ok'), 120_000, 200);
    const writers = new SequenceWriters(() => env.provider, SEED, ['countdown', 'invoice_no']).start(4);
    const seqs = [{ name: 'public.orders_id_seq' }, { name: 'public.invoice_no' }, { name: 'public.countdown', descending: true }];
    const killing = worker.killRepeatedly(8, random, { minMs: 300, spreadMs: 1200 });
    let checks = 0;
    const check = async () => {
      if (await checkNotBehind(env.provider, env.subscriber, 'leaf1', writers, seqs)) checks++;
      return true;
    };
    await checkWhile(killing, check);
    await waitFor('checks past ticks that hold drawn values', async () => (await check()) && checks >= 5, 120_000, 150);
    await writers.stop();
    expect(writers.errors).toBe(0);
    expect(writers.rollbacks).toBeGreaterThan(5);
    console.log(`sequences: ${checks} checks, ${writers.commits} commits, ${writers.rollbacks} rollbacks, ${writers.draws.length} values drawn, ${worker.kills} kills`);

    // Caught up: equal to the provider's (a rolled-back last value included), and the
    // subscription records the provider's values.
    const provider = await seqValues(env.provider);
    expect(provider.get('public.orders_id_seq')).toBe(writers.max('public.orders_id_seq'));
    await waitFor('the subscriber sequences equal the provider\'s', async () => {
      const sub = await seqValues(env.subscriber);
      return seqs.every((s) => sub.get(s.name) === provider.get(s.name));
    }, 60_000, 200);
    await waitFor('orders identical', async () => (await tableJson(env.provider, 'orders')) === (await tableJson(env.subscriber, 'orders')), 60_000, 200);
    const rows = await listSequences(env.subscriber, 'leaf1');
    for (const s of seqs) expect(rows.find((q) => q.source === s.name)?.lastValue).toBe(String(provider.get(s.name)));
    expect(rows.find((q) => q.source === 'public.unused_seq')?.lastValue).toBeNull();

    // status and the metric show both sides.
    const st = await getStatus(env.subscriber, 'leaf1', env.provider);
    expect(st.sequences.find((q) => q.source === 'public.countdown')).toMatchObject({
      providerValue: String(provider.get('public.countdown')),
      subscriberValue: String(provider.get('public.countdown')),
    });
    const metricsWorker = new ReplicationWorker({ subscriptions: [{ subscription: 'leaf1', provider: env.providerUrl, subscriber: env.subscriberUrl }] });
    try {
      const s = metricsWorker.subscriptions[0]!.stats;
      s.nodeType = 'leaf';
      s.providerUp = true;
      const text = await replicationMetrics(metricsWorker).metrics();
      for (const side of ['provider', 'subscriber']) {
        expect(text).toContain(`pgferry_replication_sequence_value{subscription="leaf1",sequence="public.orders_id_seq",side="${side}"} ${provider.get('public.orders_id_seq')}`);
      }
      expect(text).not.toContain('sequence="public.unused_seq"');
    } finally {
      await metricsWorker.stop();
    }
  });

  it('pgferry replicate add-sequence, sequences --json, remove-sequence, status --json', { timeout: 120_000 }, async () => {
    const common = ['--provider', env.providerUrl, '--subscriber', env.subscriberUrl, '--node', 'leaf1'];
    await env.provider.query(`SELECT nextval('cli_seq') FROM generate_series(1, 2)`); // 50, 51
    await env.subscriber.query('DROP SEQUENCE cli_seq');
    const missing = await pgferry(['replicate', 'add-sequence', ...common, 'cli_seq']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pgferry: .*sequence "public.cli_seq" does not exist on the subscriber .*--create/);
    const unknown = await pgferry(['replicate', 'add-sequence', ...common, 'no_such_seq']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^pgferry: .*sequence "no_such_seq" does not exist on the provider/);
    expect((await pgferry(['replicate', 'add-sequence', ...common])).code).toBe(2); // neither a sequence nor --all

    const added = await pgferry(['replicate', 'add-sequence', ...common, 'cli_seq', '--create', '--json']);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ source: 'public.cli_seq', dest: 'public.cli_seq', lastValue: '51' });
    const listed = await pgferry(['replicate', 'sequences', '--subscriber', env.subscriberUrl, '--node', 'leaf1', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { source: string }[]).map((q) => q.source)).toContain('public.cli_seq');
    const text = await pgferry(['replicate', 'sequences', '--subscriber', env.subscriberUrl, '--node', 'leaf1']);
    expect(text.stdout).toMatch(/^SOURCE\s+DEST\s+LAST VALUE\n/);
    expect(text.stdout).toMatch(/public\.cli_seq\s+public\.cli_seq\s+51\n/);
    const all = await pgferry(['replicate', 'add-sequence', ...common, '--all', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual([]); // every one is in already

    const status = await pgferry(['replicate', 'status', ...common, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { sequences: unknown[] }).sequences).toContainEqual(
      expect.objectContaining({ source: 'public.cli_seq', providerValue: '51', subscriberValue: '51', lastValue: '51' }),
    );
    const statusText = await pgferry(['replicate', 'status', ...common]);
    expect(statusText.stdout).toContain('sequence public.cli_seq -> public.cli_seq: subscriber 51, provider 51');

    const removed = await pgferry(['replicate', 'remove-sequence', '--subscriber', env.subscriberUrl, '--node', 'leaf1', 'cli_seq', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ removed: 'public.cli_seq' });
    expect((await listSequences(env.subscriber, 'leaf1')).map((q) => q.source)).not.toContain('public.cli_seq');
    const again = await pgferry(['replicate', 'remove-sequence', '--subscriber', env.subscriberUrl, '--node', 'leaf1', 'cli_seq']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/sequence "cli_seq" is not in subscription "leaf1"/);
  });
});

describe(`sequences in a cascade: root -> branch -> leaf, switchover, takeover (seed ${SEED})`, () => {
  let c: Cascade;
  const random = rng(SEED + 7);

  beforeAll(async () => {
    c = await startCascade();
    await c.root.pool.query(`${ORDERS}; CREATE SEQUENCE other`);
    await c.worker.start();
  }, 120_000);

  afterAll(() => stopCascade(c));

  const killWorker = (n: number) => c.worker.killRepeatedly(n, random, { minMs: 300, spreadMs: 1200 });

  it('passes values down root -> branch -> leaf: the leaf is never behind the root as of its tick', { timeout: 600_000 }, async () => {
    const ok = (db: pg.Pool, node: string) => waitFor(`${node}'s tables ok`, async () => (await listTables(db, node)).every((t) => t.state === 'ok'), 180_000, 200);
    await addTable(c.root.pool, c.branch.pool, { subscription: 'branch', table: 'orders', create: true });
    await addSequence(c.root.pool, c.branch.pool, { subscription: 'branch', sequence: 'orders_id_seq', create: true });
    await expect(addSequence(c.root.pool, c.branch.pool, { subscription: 'branch', sequence: 'other', dest: 'other2', create: true })).rejects.toThrow(
      /branch "branch" keeps its provider's sequence names/,
    );
    await expect(addSequence(c.branch.pool, c.leaf.pool, { subscription: 'leaf', sequence: 'other', create: true })).rejects.toThrow(
      /branch "branch" does not replicate sequence "other"/,
    );
    // A node that may become the root draws its ids from the replicated sequence.
    await c.branch.pool.query(`ALTER TABLE orders ALTER COLUMN id SET DEFAULT nextval('orders_id_seq')`);
    await ok(c.branch.pool, 'branch');
    await addTable(c.branch.pool, c.leaf.pool, { subscription: 'leaf', table: 'orders', create: true });
    await addSequence(c.branch.pool, c.leaf.pool, { subscription: 'leaf', sequence: 'orders_id_seq', create: true });
    await ok(c.leaf.pool, 'leaf');

    const writers = new SequenceWriters(() => c.root.pool, SEED).start(3);
    const seqs = [{ name: 'public.orders_id_seq' }];
    const killing = killWorker(5);
    const checks = { leaf: 0, branch: 0 };
    const check = async () => {
      if (await checkNotBehind(c.root.pool, c.leaf.pool, 'leaf', writers, seqs)) checks.leaf++;
      if (await checkNotBehind(c.root.pool, c.branch.pool, 'branch', writers, seqs)) checks.branch++;
      return true;
    };
    await checkWhile(killing, check);
    // Writes go on until both nodes were checked past ticks that hold some (a worker just
    // started may take a while to get there).
    await waitFor('checks on the branch and the leaf', async () => (await check()) && checks.leaf >= 5 && checks.branch >= 5, 120_000, 150);
    await writers.stop();
    console.log(`cascade: ${checks.branch} checks on the branch, ${checks.leaf} on the leaf, ${writers.draws.length} values drawn`);
    const root = (await seqValues(c.root.pool)).get('public.orders_id_seq');
    expect(root).toBe(writers.max('public.orders_id_seq'));
    await waitFor('branch and leaf equal to the root', async () => {
      const [b, l] = await Promise.all([seqValues(c.branch.pool), seqValues(c.leaf.pool)]);
      return b.get('public.orders_id_seq') === root && l.get('public.orders_id_seq') === root;
    }, 60_000, 200);
  });

  it('switchover: the new root\'s next value comes after every value the old root handed out, both ways', { timeout: 600_000 }, async () => {
    let writeTo = c.root;
    const onRoot = new SequenceWriters(() => writeTo.pool, SEED + 1).start(3);
    await sleep(1500);
    const there = await switchover(c.root.pool, c.branch.pool, { oldRootLocation: c.root.url, newRootLocation: c.branch.url });
    const usedOnRoot = onRoot.max('public.orders_id_seq')!;
    const first = BigInt((await c.branch.pool.query<{ v: string }>(`SELECT nextval('orders_id_seq')::text AS v`)).rows[0]!.v);
    expect(first).toBeGreaterThan(usedOnRoot);
    writeTo = c.branch;
    await onRoot.stop();
    console.log(`switchover at tick ${there.tickId}: ${there.sequencesMoved} sequence(s) moved; old root's last value ${usedOnRoot}, new root's first ${first}`);
    // The old root is a branch now, and replicates the sequence from the new root.
    expect((await listSequences(c.root.pool, 'root')).map((q) => [q.source, q.dest])).toEqual([['public.orders_id_seq', 'public.orders_id_seq']]);

    const onBranch = new SequenceWriters(() => writeTo.pool, SEED + 2).start(3);
    await killWorker(2);
    await sleep(1000);
    await switchover(c.branch.pool, c.root.pool, { oldRootLocation: c.branch.url, newRootLocation: c.root.url });
    const usedOnBranch = onBranch.max('public.orders_id_seq')!;
    expect(usedOnBranch).toBeGreaterThan(first);
    writeTo = c.root;
    const back = BigInt((await c.root.pool.query<{ v: string }>(`SELECT nextval('orders_id_seq')::text AS v`)).rows[0]!.v);
    expect(back).toBeGreaterThan(usedOnBranch);
    await sleep(500);
    await onBranch.stop();
    // Every node's value is at least every id any node holds.
    const maxId = async (db: pg.Pool) => BigInt((await db.query<{ m: string }>('SELECT coalesce(max(id), 0)::text AS m FROM orders')).rows[0]!.m);
    await waitFor('orders identical', async () => {
      const [r, b, l] = await Promise.all([c.root, c.branch, c.leaf].map((n) => tableJson(n.pool, 'orders')));
      return r === b && b === l;
    }, 120_000, 300);
    const top = await maxId(c.root.pool);
    await waitFor('every node past every id', async () => {
      for (const n of [c.root, c.branch, c.leaf]) if (((await seqValues(n.pool)).get('public.orders_id_seq') ?? 0n) < top) return false;
      return true;
    }, 60_000, 200);
  });

  it('takeover of a killed root: the new root is at least at the last replicated values, plus the margin', { timeout: 600_000 }, async () => {
    const writers = new SequenceWriters(() => c.root.pool, SEED + 3).start(3);
    await sleep(1500);
    const before = await appliedTick(c.branch.pool, 'branch');
    await waitFor('the branch applying', async () => BigInt((await appliedTick(c.branch.pool, 'branch')) ?? '0') > BigInt(before ?? '0') + 2n, 60_000, 100);
    await c.root.server.kill();
    await writers.stop();
    await sleep(500); // the worker's last attempt on the dead root fails
    const replicated = BigInt((await listSequences(c.branch.pool, 'branch'))[0]!.lastValue!);
    const current = (await seqValues(c.branch.pool)).get('public.orders_id_seq')!;
    expect(current).toBeGreaterThanOrEqual(replicated);
    // A margin of at least the values the dead root drew after the last replicated batch (here:
    // all this test's writers drew) puts the new root past every one of them.
    const margin = writers.draws.length + 1;
    const report = await takeover(c.branch.pool, { newRootLocation: c.branch.url, sequenceMargin: margin });
    expect(report.sequences).toHaveLength(1);
    const moved = BigInt(report.sequences[0]!.lastValue);
    expect(report.sequences[0]!.sequence).toBe('public.orders_id_seq');
    expect(moved).toBeGreaterThanOrEqual(current + BigInt(margin));
    const next = BigInt((await c.branch.pool.query<{ v: string }>(`SELECT nextval('orders_id_seq')::text AS v`)).rows[0]!.v);
    expect(next).toBe(moved + 1n);
    const held = BigInt((await c.branch.pool.query<{ m: string }>('SELECT max(id)::text AS m FROM orders')).rows[0]!.m);
    expect(next).toBeGreaterThan(held);
    const drawnOnRoot = writers.max('public.orders_id_seq')!;
    console.log(`takeover: last replicated ${replicated}, branch at ${current}, drawn on the dead root up to ${drawnOnRoot}, margin ${margin}, new root's next ${next}`);
    expect(next).toBeGreaterThan(drawnOnRoot);
  });
});
