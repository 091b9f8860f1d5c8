/**
 * One subscription's worker: the main stream (one subscriber transaction per batch, the
 * batch's tick recorded in it, then finish_batch on the provider), the initial copies
 * (several tables in parallel) and, per copied table, its catch-up until the exact tick
 * where the main stream takes it over.
 *
 * Restarts at any point neither lose nor double a change: a batch whose tick is recorded
 * on the subscriber is only finished; a copy that did not commit starts over; a catch-up
 * batch whose tick is recorded in the table's row is only finished.
 */
import createDebug from 'debug';
import pg from 'pg';
import {
  Backoff,
  DEFAULT_TIMEOUTS,
  Lease,
  boundedConfig,
  clientConfig,
  destroyPoolConnections,
  getConsumerInfo,
  isConnectionError,
  sleep,
  TickListener,
  unregisterConsumer,
  within,
  type ConnectionConfig,
  type ConnectionTimeouts,
} from '@pgferry/queue';
import { copyTable, type CopyProgress } from '../copy/copy-table.js';
import { createProviderPool, createSubscriberPool } from '../connections.js';
import { copyConsumerName, isCopyConsumerOf } from '../admin/node-name.js';
import { subscriberNode, toNode, type NodeInfo, type NodeRow } from '../admin/nodes.js';
import { ReplicationStateError } from '../errors.js';
import { restoreForeignKeys } from '../admin/foreign-keys.js';
import { HandlerRegistry } from '../handlers/registry.js';
import { rowHandler } from '../handlers/row.js';
import { sql } from '../sql.js';
import { toSubscribedTable, type SubscribedTable, type SubscriberTableRow } from '../state/subscribed-table.js';
import { catchupStep } from './catchup.js';
import { ensureBranchTick, mainStep } from './main-stream.js';
import { updateWatermark } from '../admin/cascade.js';
import type { StreamEnv } from './stream-env.js';
import { forwardTickRequest } from './tick-request.js';

const debug = createDebug('pgferry:replicator:worker');

export interface SubscriptionWorkerOptions {
  /** The leaf or branch node name (its consumer name on the provider's queue). */
  subscription: string;
  /**
   * The provider, for a node whose row records no provider location (nodes created with
   * create-leaf/create-branch record it; change-provider, switchover and takeover move it,
   * and the worker follows).
   */
  provider?: ConnectionConfig;
  subscriber: ConnectionConfig;
  /** Tables copied at once. Default 2. */
  parallelCopies?: number;
  /**
   * Rows per chunk of a table's copy (a chunked copy resumes after its last committed chunk;
   * see copy/chunked-copy.ts); 0: every table in one transaction. Default: by copyChunkBytes.
   */
  copyChunkRows?: number;
  /** The COPY text bytes a chunk aims at when copyChunkRows is not given. Default 128 MiB. */
  copyChunkBytes?: number;
  /** The longest wait for a tick when there is no batch (ms). Default 200. */
  pollIntervalMs?: number;
  /**
   * Wake on the provider's tick (LISTEN pgferry_tick, one more connection to the provider)
   * rather than at the next poll. Default true.
   */
  listen?: boolean;
  /**
   * Called when the stream found no batch and waits for a tick: the ticker of that database
   * may tick for a waiting consumer at once (ReplicationWorker runs one and nudges it).
   */
  askTick?: (provider: ConnectionConfig) => void;
  /** Events fetched per round trip. Default 2000. */
  fetchSize?: number;
  /** Distinct keys held per batch before applying them (bounds memory). Default 20000. */
  maxKeysPerFlush?: number;
  /** Backoff after an error: first and longest wait (ms). Defaults 500 and 30000. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Bounds on every wait of the worker's connections (see ConnectionTimeouts). */
  timeouts?: Partial<ConnectionTimeouts>;
  /** stop(): how long work in flight may take to finish before its connections are closed (ms). Default 10000. */
  stopTimeoutMs?: number;
  /** Log lines (errors, copies, hand-offs, missing rows) for a daemon to print. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** The handlers tables may name (default: the built-in ones). */
  handlers?: HandlerRegistry;
}

export interface SubscriptionStats {
  subscription: string;
  /** This worker holds the subscription's lock (only one worker serves a subscription). */
  active: boolean;
  queue: string | null;
  batches: number;
  /** Batches applied event by event, their coalesced apply having hit an order-dependent constraint. */
  orderedBatches: number;
  events: number;
  applied: number;
  inserted: number;
  updated: number;
  deleted: number;
  missingUpdates: number;
  missingDeletes: number;
  /** Times the subscriber was found behind its provider's position (restored from a backup) and the events after its own were replayed. */
  rewinds: number;
  errors: number;
  /** Of the errors, those of a lost, refused or unanswering connection. */
  connectionErrors: number;
  lastError: string | null;
  lastErrorAt: Date | null;
  /** Scopes ('main', 'supervisor', 'lock', a table) whose last attempt failed. */
  failing: string[];
  lastBatchAt: Date | null;
  appliedTick: string | null;
  /** What the node is now (null until its row is read) and the provider it reads from. */
  nodeType: 'root' | 'branch' | 'leaf' | null;
  providerNode: string | null;
  /** Whether the provider answers (null: not known yet; a root reads from none). */
  providerUp: boolean | null;
  copies: CopyProgress[];
  catchingUp: string[];
}

/** How often a loop looks whether the subscription's lock is held yet (ms; no query). */
const ACTIVE_CHECK_MS = 100;

/** The lock connection's heartbeat (ms). */
const HEARTBEAT_MS = 5000;

/** An idle worker reads its node's row again after this long (ms). */
const NODE_REREAD_MS = 2000;

/** A catch-up that has not moved for this long no longer holds the main stream back (ms). */
const CATCHUP_STALL_MS = 10_000;

export class SubscriptionWorker {
  readonly subscriber: pg.Pool;
  readonly stats: SubscriptionStats;
  private queue: string | null = null;
  /** The node's row as the worker last read it: null until read, and after its provider moved. */
  private node: NodeInfo | null = null;
  /** Where the provider pool connects (to see when the node's provider moved). */
  private providerAt: ConnectionConfig | undefined;
  private nodeReadAt = 0;
  /** A branch's queue was checked for its position's tick since the last error. */
  private branchTickChecked = false;
  /** The branch queue's last tick request passed up to the provider (see worker/tick-request.ts). */
  private tickRequestPassed: string | null = null;
  private abort = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly copying = new Map<string, CopyProgress>();
  private readonly copyConsumersInUse = new Set<string>();
  private readonly catchups = new Map<string, Promise<void>>();
  /** Per table catching up: the tick it has applied to, and when it last moved. */
  private readonly catchupProgress = new Map<string, { tick: bigint; at: number }>();
  private readonly copyRetryAt = new Map<string, { at: number; attempts: number }>();
  private readonly failing = new Set<string>();
  /** Scopes that succeeded since this worker started (an error recorded before it is cleared once). */
  private readonly succeeded = new Set<string>();
  private readonly opts: Required<Omit<SubscriptionWorkerOptions, 'log' | 'timeouts' | 'handlers' | 'provider' | 'copyChunkRows' | 'copyChunkBytes' | 'askTick'>> &
    Pick<SubscriptionWorkerOptions, 'log' | 'provider' | 'copyChunkRows' | 'copyChunkBytes' | 'askTick'>;
  /** The provider's tick notifications, and where it listens (replaced when the provider moves). */
  private ticks: { at: ConnectionConfig; listener: TickListener } | undefined;
  readonly timeouts: ConnectionTimeouts;
  private readonly env: StreamEnv;
  private readonly lease: Lease;

  constructor(options: SubscriptionWorkerOptions) {
    this.opts = {
      parallelCopies: 2,
      pollIntervalMs: 200,
      listen: true,
      fetchSize: 2000,
      maxKeysPerFlush: 20_000,
      retryMinMs: 500,
      retryMaxMs: 30_000,
      stopTimeoutMs: 10_000,
      ...options,
    };
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const copies = this.opts.parallelCopies;
    this.providerAt = options.provider;
    this.subscriber = createSubscriberPool(options.subscriber, copies + 4, this.timeouts);
    this.stats = {
      subscription: options.subscription,
      active: false,
      queue: null,
      batches: 0,
      orderedBatches: 0,
      events: 0,
      applied: 0,
      inserted: 0,
      updated: 0,
      deleted: 0,
      missingUpdates: 0,
      missingDeletes: 0,
      rewinds: 0,
      errors: 0,
      connectionErrors: 0,
      lastError: null,
      lastErrorAt: null,
      failing: [],
      lastBatchAt: null,
      appliedTick: null,
      nodeType: null,
      providerNode: null,
      providerUp: null,
      copies: [],
      catchingUp: [],
    };
    this.env = {
      name: options.subscription,
      nodeType: 'leaf',
      providerNode: null,
      // Until the node's row is read (ensureNode): a pool that is never connected when no
      // provider is configured.
      provider: createProviderPool(options.provider ?? {}, copies + 4, this.timeouts),
      subscriber: this.subscriber,
      handlers: options.handlers ?? new HandlerRegistry(),
      fetchSize: this.opts.fetchSize,
      maxKeysPerFlush: this.opts.maxKeysPerFlush,
      readTimeoutMs: this.timeouts.queryMs,
      log: (level, message) => this.log(level, message),
    };
    this.lease = this.subscriptionLease();
  }

  get name(): string {
    return this.opts.subscription;
  }

  /** Where the node reads from now (its row's provider location, or the configured provider). */
  get providerConfig(): ConnectionConfig | undefined {
    return this.providerAt;
  }

  /** The pool on the provider the node reads from now. */
  get provider(): pg.Pool {
    return this.env.provider;
  }

  start(): this {
    if (this.loops.length) return this;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.loops = [this.lease.run(signal), this.mainLoop(signal), this.superviseLoop(signal)];
    return this;
  }

  /**
   * Graceful stop: the batch being applied is finished or rolled back, copies are rolled
   * back. Bounded: work still in flight after stopTimeoutMs has its connections closed
   * (its transactions roll back; a batch not recorded comes again).
   */
  async stop(): Promise<void> {
    this.abort.abort();
    const settled = Promise.all([...this.loops, ...this.catchups.values()]).then(() => true);
    if (!(await within(settled, this.opts.stopTimeoutMs))) {
      this.log('warn', `stop: work still in flight after ${this.opts.stopTimeoutMs} ms; closing its connections`);
      this.closeConnections();
      await within(settled, 5000);
    }
    this.loops = [];
    await within(Promise.all([this.provider.end(), this.subscriber.end(), this.ticks?.listener.close()]), 5000);
    this.ticks = undefined;
  }

  /** Close every connection now (stop(), and a worker that must not wait for its own). */
  private closeConnections(): void {
    destroyPoolConnections(this.provider);
    destroyPoolConnections(this.subscriber);
    this.lease.destroy();
  }

  /** Current stats, with the copies in progress. */
  snapshot(): SubscriptionStats {
    return { ...this.stats, failing: [...this.failing], copies: [...this.copying.values()], catchingUp: [...this.catchups.keys()] };
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    debug('%s: %s', this.name, message);
    this.opts.log?.(level, `[${this.name}] ${message}`);
  }

  private async onError(scope: string, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    this.stats.errors++;
    if (isConnectionError(err)) this.stats.connectionErrors++;
    this.stats.lastError = `${scope}: ${message}`;
    this.stats.lastErrorAt = new Date();
    this.log(isConnectionError(err) ? 'warn' : 'error', `${scope}: ${message}`);
    this.failing.add(scope);
    // Reported on the subscriber for status (not possible while the subscriber is the one lost).
    await this.subscriber.query(sql('record_error'), [this.name, scope, message]).catch(() => undefined);
  }

  private async onSuccess(scope: string): Promise<void> {
    // An error recorded by an earlier worker (a restart, a reload) is cleared by this one's
    // first success in that scope: status would show it for ever otherwise.
    if (!this.failing.has(scope) && this.succeeded.has(scope)) return;
    await this.subscriber.query(sql('clear_error'), [this.name, scope]);
    this.succeeded.add(scope);
    if (!this.failing.has(scope)) return;
    this.failing.delete(scope);
    if (this.failing.size === 0) this.stats.lastError = null;
    this.log('info', `${scope}: recovered`);
  }

  /**
   * The node as its row says (read once, and again after its provider moved): its queue,
   * its type, and the provider it reads from, whose pool is replaced when that moved. Null
   * for a node that is a root now (a branch promoted by a switchover or a takeover): it has
   * nothing to read, and the worker idles.
   */
  private async ensureNode(): Promise<NodeInfo | null> {
    if (this.node) return this.node;
    const { rows } = await this.subscriber.query<NodeRow>(sql('local_node'), [this.name]);
    const node = rows[0] ? toNode(rows[0]) : await subscriberNode(this.subscriber, this.name); // (the latter raises)
    this.stats.nodeType = node.type;
    this.stats.providerNode = node.providerNode;
    if (node.type === 'root') {
      this.stats.queue = node.queue;
      this.stats.providerUp = null;
      return null;
    }
    const at: ConnectionConfig | undefined = node.providerLocation ?? this.opts.provider;
    if (at === undefined) {
      throw new ReplicationStateError(`node "${this.name}" has no provider location, and the worker has no provider configured`, {
        hint: 'give the worker its provider (provider in its configuration), or move the node with change-provider',
      });
    }
    if (JSON.stringify(at) !== JSON.stringify(this.providerAt) || this.env.providerNode !== node.providerNode) {
      if (this.env.providerNode !== null) this.log('info', `following the node's provider: now ${node.providerNode}`);
      const old = this.env.provider;
      this.env.provider = createProviderPool(at, this.opts.parallelCopies + 4, this.timeouts);
      this.providerAt = at;
      void within(old.end(), 5000).catch(() => undefined);
    }
    this.env.nodeType = node.type;
    this.env.providerNode = node.providerNode;
    this.queue = node.queue;
    this.stats.queue = node.queue;
    this.branchTickChecked = false;
    this.node = node;
    this.nodeReadAt = Date.now();
    return node;
  }

  private async ensureQueue(): Promise<string | null> {
    return (await this.ensureNode())?.queue ?? null;
  }

  private async loadTables(client: pg.ClientBase | pg.Pool): Promise<SubscribedTable[]> {
    const { rows } = await client.query<SubscriberTableRow>(sql('subscriber_tables'), [this.name]);
    return rows.map(toSubscribedTable);
  }

  // ---- the subscription's lock -----------------------------------------------------------

  /**
   * The subscription's lock on the subscriber, held on a connection of its own: two
   * workers on one subscription would race their copies. A killed worker's lock goes with
   * its connection; a worker that finds it taken stands by and retries.
   */
  private subscriptionLease(): Lease {
    return new Lease({
      config: { ...clientConfig(this.opts.subscriber), ...boundedConfig(this.timeouts) },
      tryLock: async (client) => (await client.query<{ ok: boolean }>(sql('try_subscription_lock'), [this.name])).rows[0]?.ok === true,
      queryMs: this.timeouts.queryMs,
      retryMs: this.opts.retryMinMs,
      maxRetryMs: this.opts.retryMaxMs,
      onAcquired: async () => {
        this.stats.active = true;
        await this.onSuccess('lock');
        this.log('info', 'serving the subscription');
      },
      onStandby: () => this.log('warn', 'another worker serves this subscription; standing by'),
      onReleased: () => {
        this.stats.active = false;
      },
      onError: async (err, held) => {
        const what = held ? 'lost the subscription lock' : 'cannot take the subscription lock';
        await this.onError('lock', new Error(`${what}: ${err.message}`, { cause: err }));
      },
    });
  }

  // ---- main stream -------------------------------------------------------------------

  private async mainLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ minMs: this.opts.retryMinMs, maxMs: this.opts.retryMaxMs });
    while (!signal.aborted) {
      if (!this.stats.active) {
        await sleep(Math.min(this.opts.pollIntervalMs, ACTIVE_CHECK_MS), signal);
        continue;
      }
      try {
        const worked = await this.mainStep();
        backoff.reset();
        if (this.stats.nodeType !== 'root') this.stats.providerUp = true;
        await this.onSuccess('main');
        if (!worked) await this.waitForTick(signal);
      } catch (err) {
        await this.onError('main', err);
        if (isConnectionError(err)) this.stats.providerUp = await this.providerAnswers();
        this.node = null; // read again: the error may be the provider having moved
        await sleep(backoff.next(), signal);
      }
    }
  }

  /**
   * No batch: wait for the provider's next tick on the node's queue (its NOTIFY), at most
   * pollIntervalMs, and ask the ticker for one (a consumer waiting for committed events is
   * ticked at once). Without a known queue and provider, or with listen off: the poll.
   */
  private async waitForTick(signal: AbortSignal): Promise<void> {
    const at = this.providerAt;
    if (!this.opts.listen || this.queue === null || at === undefined || this.node === null) {
      await sleep(this.opts.pollIntervalMs, signal);
      return;
    }
    if (this.ticks && JSON.stringify(this.ticks.at) !== JSON.stringify(at)) {
      void this.ticks.listener.close();
      this.ticks = undefined;
    }
    this.ticks ??= { at, listener: new TickListener({ application_name: 'pgferry-replicator', ...clientConfig(at), ...boundedConfig(this.timeouts) }) };
    // Waiting before asking: the tick's notification cannot come before the wait is set.
    const tick = this.ticks.listener.wait(this.queue, this.opts.pollIntervalMs, signal);
    this.opts.askTick?.(at);
    await tick;
  }

  /** Whether the provider answers a trivial query now (after a connection error: which side was it?). */
  private async providerAnswers(): Promise<boolean> {
    return this.provider.query('SELECT 1').then(
      () => true,
      () => false,
    );
  }

  /** Apply the next batch. False when there was none. */
  async mainStep(): Promise<boolean> {
    const queue = await this.ensureQueue();
    if (queue === null) {
      this.node = null; // a root now: read its row again later (a switchover back makes it a branch)
      return false;
    }
    if (this.waitsForCatchup()) return false;
    if (this.env.nodeType === 'branch' && !this.branchTickChecked) {
      await ensureBranchTick(this.env, queue);
      this.branchTickChecked = true;
    }
    const step = await mainStep(this.env, queue);
    if (step === 'moved') {
      this.node = null;
      return true;
    }
    if (step === 'rewound') {
      this.stats.rewinds++;
      return true;
    }
    if (!step) {
      // Idle: the node may have been promoted (switchover, takeover) with no batch to say so.
      if (Date.now() - this.nodeReadAt > NODE_REREAD_MS) this.node = null;
      if (this.env.nodeType === 'branch') this.tickRequestPassed = await forwardTickRequest(this.env, queue, this.tickRequestPassed);
      return false;
    }
    const r = step.result;
    if (r) {
      this.stats.batches++;
      if (r.ordered) {
        this.stats.orderedBatches++;
        this.log('info', `batch ${step.batchId} (tick ${step.tickId}) was applied in the provider's order: its changes depend on it`);
      }
      this.stats.events += r.events;
      this.stats.applied += r.applied;
      this.stats.inserted += r.total.inserted;
      this.stats.updated += r.total.updated;
      this.stats.deleted += r.total.deleted;
      this.stats.missingUpdates += r.total.missingUpdates;
      this.stats.missingDeletes += r.total.missingDeletes;
      this.stats.lastBatchAt = new Date();
      this.stats.appliedTick = step.tickId;
    }
    return true;
  }

  // ---- copies and catch-up -------------------------------------------------------------

  private async superviseLoop(signal: AbortSignal): Promise<void> {
    let lastCleanup = 0;
    const copies = new Set<Promise<void>>();
    while (!signal.aborted) {
      if (!this.stats.active) {
        await sleep(Math.min(this.opts.pollIntervalMs, ACTIVE_CHECK_MS), signal);
        continue;
      }
      try {
        const queue = await this.ensureQueue();
        if (queue === null) {
          await sleep(1000, signal);
          continue;
        }
        if (Date.now() - lastCleanup > 5000) {
          await this.dropOrphanCopyConsumers(queue);
          if (this.env.nodeType === 'branch' && this.node && this.stats.appliedTick) {
            await updateWatermark(this.provider, this.subscriber, this.node, this.stats.appliedTick);
          }
          lastCleanup = Date.now();
        }
        const tables = await this.loadTables(this.subscriber);
        for (const t of tables) {
          if (t.state === 'in-copy' && !this.copying.has(t.source) && this.copying.size < this.opts.parallelCopies) {
            if ((this.copyRetryAt.get(t.source)?.at ?? 0) > Date.now()) continue;
            const p = this.runCopy(queue, t, tables, signal).finally(() => copies.delete(p));
            copies.add(p);
          } else if (t.state === 'catching-up' && !this.catchups.has(t.source)) {
            const p = this.catchupLoop(queue, t, signal).finally(() => this.catchups.delete(t.source));
            this.catchups.set(t.source, p);
          }
        }
        await this.restoreForeignKeys();
        await this.onSuccess('supervisor');
      } catch (err) {
        await this.onError('supervisor', err);
      }
      await sleep(Math.max(this.opts.pollIntervalMs, 100), signal);
    }
    await Promise.all(copies);
  }

  /** Foreign keys the copies took off, back once both their tables are applied by the main stream. */
  private async restoreForeignKeys(): Promise<void> {
    const { restored, failed } = await restoreForeignKeys(this.subscriber, this.name);
    for (const fk of restored) {
      this.log('info', `foreign key ${fk.name} of ${fk.tbl} is back`);
      await this.onSuccess(`foreign key ${fk.tbl}.${fk.name}`);
    }
    for (const { fk, error } of failed) {
      await this.onError(`foreign key ${fk.tbl}.${fk.name}`, new Error(`cannot put foreign key ${fk.name} of ${fk.tbl} back: ${error}`));
    }
  }

  /** Catch-up consumers left by copies that failed or by tables removed or resynced. */
  private async dropOrphanCopyConsumers(queue: string): Promise<void> {
    const consumers = (await getConsumerInfo(this.provider, queue)).filter((c) => isCopyConsumerOf(this.name, c.consumerName));
    if (!consumers.length) return;
    // A table catching up, or in a chunked copy that resumes with its consumer, keeps it.
    const inUse = new Set((await this.loadTables(this.subscriber)).map((t) => t.copyConsumer).filter((c) => c !== null));
    for (const c of consumers) {
      if (inUse.has(c.consumerName) || this.copyConsumersInUse.has(c.consumerName)) continue;
      await unregisterConsumer(this.provider, queue, c.consumerName, { ifExists: true });
      this.log('info', `dropped unused catch-up consumer ${c.consumerName}`);
    }
  }

  private async runCopy(queue: string, t: SubscribedTable, tables: SubscribedTable[], signal: AbortSignal): Promise<void> {
    const scope = t.dest;
    const consumer = copyConsumerName(this.name, t.source);
    this.copyConsumersInUse.add(consumer);
    const started = new Date();
    this.copying.set(t.source, { table: t.dest, rows: 0, bytes: 0, estimatedRows: null, startedAt: started, rate: 0, etaSeconds: null });
    let lastWrite = 0;
    try {
      this.log('info', `copying ${t.source} -> ${t.dest}`);
      const rows = await copyTable({
        provider: this.provider,
        subscriber: this.subscriber,
        queue,
        table: t,
        copyConsumer: consumer,
        tables,
        hooks: this.env.handlers.handlerFor(t).copy ?? rowHandler.create(t, {}).copy!,
        signal,
        stallMs: this.timeouts.copyStallMs,
        chunkRows: this.opts.copyChunkRows,
        chunkBytes: this.opts.copyChunkBytes,
        onProgress: (p) => {
          this.copying.set(t.source, p);
          if (Date.now() - lastWrite > 1000) {
            lastWrite = Date.now();
            void this.subscriber
              .query(sql('record_copy_progress'), [this.name, scope, p.rows, p.bytes, p.estimatedRows, p.startedAt])
              .catch(() => undefined);
          }
        },
      });
      if (rows !== null) {
        const p = this.copying.get(t.source)!;
        await this.subscriber
          .query(sql('record_copy_progress'), [this.name, scope, rows, p.bytes, p.estimatedRows, p.startedAt])
          .catch(() => undefined);
        this.log('info', `copied ${t.source}: ${rows} rows in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s; catching up`);
      }
      this.copyRetryAt.delete(t.source);
      await this.onSuccess(scope);
    } catch (err) {
      if (!signal.aborted) {
        await this.onError(scope, err);
        const attempts = (this.copyRetryAt.get(t.source)?.attempts ?? 0) + 1;
        const wait = Math.min(this.opts.retryMinMs * 2 ** attempts, this.opts.retryMaxMs);
        this.copyRetryAt.set(t.source, { at: Date.now() + wait, attempts });
      }
    } finally {
      this.copying.delete(t.source);
      this.copyConsumersInUse.delete(consumer);
    }
  }

  /**
   * The main stream waits while a catch-up that is moving is behind it. A catch-up applies
   * one tick range per step, like the main stream: when ticks come faster than both apply
   * them, the two would advance together and the table would never be handed over. A
   * catch-up that has not moved for CATCHUP_STALL_MS (failing, say) holds nothing back.
   */
  private waitsForCatchup(): boolean {
    if (this.stats.appliedTick === null) return false;
    const main = BigInt(this.stats.appliedTick);
    const now = Date.now();
    for (const p of this.catchupProgress.values()) if (p.tick < main && now - p.at < CATCHUP_STALL_MS) return true;
    return false;
  }

  private async catchupLoop(queue: string, t: SubscribedTable, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ minMs: this.opts.retryMinMs, maxMs: this.opts.retryMaxMs });
    const scope = t.dest;
    this.catchupProgress.set(t.source, { tick: BigInt(t.copyTick ?? 0), at: Date.now() });
    try {
      await this.catchupSteps(queue, t, scope, backoff, signal);
    } finally {
      this.catchupProgress.delete(t.source);
    }
  }

  private async catchupSteps(queue: string, t: SubscribedTable, scope: string, backoff: Backoff, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.stats.active) return; // the supervisor starts it again once active
      try {
        const step = await catchupStep(this.env, queue, t);
        backoff.reset();
        await this.onSuccess(scope);
        if (step.step === 'done') return;
        if (step.step === 'worked') this.catchupProgress.set(t.source, { tick: step.tick, at: Date.now() });
        if (step.step === 'idle') await this.waitForTick(signal);
      } catch (err) {
        await this.onError(scope, err);
        await sleep(backoff.next(), signal);
      }
    }
  }
}
