/**
 * The replication section of the web console (@pgferry/queue/console), plugged into a
 * worker's console: for each subscription, getStatus (what `pgferry replicate status
 * --json` prints) and the cascade below its provider (`status --cascade --json`), and the
 * resync action. Also the worker's queue sources: the providers it reads from.
 */
import type pg from 'pg';
import { z } from 'zod';
import { connectionLabel, createPool } from '@pgferry/queue';
import { ConsoleRequestError, type ConsoleView } from '@pgferry/queue/console';
import type { MetricsSource } from '@pgferry/queue/metrics';
import { resyncTable } from '../admin/tables.js';
import type { SubscriptionWorker } from '../worker/subscription-worker.js';
import { cascadeStatus, type CascadeNodeStatus } from './cascade-status.js';
import { getStatus, type SubscriptionStatus } from './status.js';

/** What the view reads: a ReplicationWorker, or the CLI's worker daemon. */
export interface ReplicationConsoleSource {
  readonly subscriptions: readonly SubscriptionWorker[];
}

export interface SubscriptionConsoleState {
  subscription: string;
  status: SubscriptionStatus | null;
  statusError: string | null;
  /** The cascade walked down from this subscription's provider. */
  cascade: CascadeNodeStatus[] | null;
  cascadeError: string | null;
}

/** A node of the cascade is given up on after this long (ms). */
const CONNECT_TIMEOUT_MS = 2000;

const resyncArgs = z.strictObject({ subscription: z.string().min(1), table: z.string().min(1) });

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The providers the worker's subscriptions read from, one source each (for the queues section). */
export function providerSources(source: ReplicationConsoleSource): MetricsSource[] {
  const out = new Map<string, MetricsSource>();
  for (const s of source.subscriptions) {
    const name = s.providerConfig ? connectionLabel(s.providerConfig) : `${s.name} provider`;
    if (!out.has(name)) out.set(name, { name, db: s.provider });
  }
  return [...out.values()];
}

export function replicationConsoleView(source: ReplicationConsoleSource): ConsoleView {
  // Pools on the other nodes of the cascade, by the location they recorded: opened once.
  const pools = new Map<string, pg.Pool>();
  const open = async (location: string): Promise<pg.Pool> => {
    let pool = pools.get(location);
    if (!pool) {
      pool = createPool(
        { connectionString: location, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, idleTimeoutMillis: 10_000 },
        { max: 1, applicationName: 'pgferry-console' },
      );
      pools.set(location, pool);
    }
    return pool;
  };
  return {
    name: 'replication',
    async state(): Promise<SubscriptionConsoleState[]> {
      return Promise.all(
        source.subscriptions.map(async (s) => {
          const out: SubscriptionConsoleState = { subscription: s.name, status: null, statusError: null, cascade: null, cascadeError: null };
          await Promise.all([
            getStatus(s.subscriber, s.name, s.provider).then(
              (st) => void (out.status = st),
              (err: unknown) => void (out.statusError = messageOf(err)),
            ),
            cascadeStatus(s.provider, open).then(
              (c) => void (out.cascade = c),
              (err: unknown) => void (out.cascadeError = messageOf(err)),
            ),
          ]);
          return out;
        }),
      );
    },
    actions: {
      /** Copy a table again from scratch (`pgferry replicate resync`). */
      'resync-table': {
        async run(args) {
          const r = resyncArgs.safeParse(args);
          if (!r.success) throw new ConsoleRequestError(`bad arguments: ${r.error.issues.map((i) => i.message).join('; ')}`);
          const s = source.subscriptions.find((x) => x.name === r.data.subscription);
          if (!s) throw new ConsoleRequestError(`this worker runs no subscription "${r.data.subscription}"`, 404);
          await resyncTable(s.subscriber, { subscription: s.name, table: r.data.table });
          return { resync: r.data.table };
        },
      },
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => undefined)));
      pools.clear();
    },
  };
}
