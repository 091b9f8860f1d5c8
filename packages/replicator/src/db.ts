/** Connections: pools that survive server restarts, and the subscriber's replica setting. */
import pg from 'pg';
import createDebug from 'debug';
import { VALUE_SETTINGS, destroyConnection, settingsOptions, untilLost } from '@pgferry/queue';

const debug = createDebug('pgferry:replicator:db');

export type ConnectionConfig = string | pg.PoolConfig;

/**
 * Bounds on every wait of the worker's connections, so that a server that stalls, a
 * connection that is cut (half-open, or a proxy that stops forwarding) or a backend that
 * is killed turns into an error that is retried, never into a hang.
 */
export interface ConnectionTimeouts {
  /** Connecting, authentication included (ms). */
  connectMs: number;
  /** Server side: statement_timeout of the worker's sessions (ms); COPY is exempt. */
  statementMs: number;
  /**
   * Client side: longest wait for the answer to one query or fetch (ms); past it the
   * socket is closed. Above statementMs, so that the server's own timeout fires first.
   */
  queryMs: number;
  /** Server side: idle_in_transaction_session_timeout of the worker's sessions (ms). */
  idleInTransactionMs: number;
  /** TCP keepalive: first probe after this much silence (ms). */
  keepAliveMs: number;
  /** A COPY that moves no byte this long is stalled: its connections are closed (ms). */
  copyStallMs: number;
}

export const DEFAULT_TIMEOUTS: ConnectionTimeouts = {
  connectMs: 15_000,
  statementMs: 300_000,
  queryMs: 315_000,
  idleInTransactionMs: 630_000,
  keepAliveMs: 10_000,
  copyStallMs: 120_000,
};

function baseConfig(c: ConnectionConfig): pg.PoolConfig {
  return typeof c === 'string' ? { connectionString: c } : { ...c };
}

/**
 * A Client whose plain queries (promise or callback form, pool.query included) are bounded
 * by `queryMs` and fail at once when the connection is lost. Cursors and COPY streams
 * (submittables) are bounded where they are used (streamBatchEvents, copy.ts).
 */
function boundedClient(queryMs: number): typeof pg.Client {
  return class BoundedClient extends pg.Client {
    // One override for all of node-postgres' query() overloads, hence the loose types.
    override query(config: any, values?: any, callback?: any): any {
      if (config && typeof config.submit === 'function') return super.query(config, values, callback);
      if (typeof values === 'function') {
        callback = values;
        values = undefined;
      }
      const what = `query ${String(typeof config === 'string' ? config : config?.text ?? '').slice(0, 60)}`;
      const p = untilLost(this, super.query(config, values) as Promise<pg.QueryResult>, queryMs, what);
      if (typeof callback !== 'function') return p;
      p.then(
        (r) => callback(null, r),
        (err: unknown) => callback(err),
      );
      return undefined;
    }
  } as unknown as typeof pg.Client;
}

/** `config` with `options` extended by `-c name=value` settings for every session. */
function withSessionOptions(config: pg.PoolConfig, options: string): pg.PoolConfig {
  return { ...config, options: `${config.options ?? ''} ${options}`.trim() };
}

/**
 * A pool whose idle clients' errors (server restart) are logged, not thrown. Its sessions
 * read and write values as text under VALUE_SETTINGS: a copied or applied value is the
 * provider's exactly, whatever the servers', databases' or roles' defaults.
 */
export function createPool(c: ConnectionConfig, max = 5, timeouts?: ConnectionTimeouts): pg.Pool {
  const config: pg.PoolConfig = { max, ...withSessionOptions(baseConfig(c), settingsOptions(VALUE_SETTINGS)) };
  if (timeouts) Object.assign(config, boundedConfig(timeouts), { Client: boundedClient(timeouts.queryMs) });
  const pool = new pg.Pool(config);
  pool.on('error', (err) => debug('idle client error: %s', err.message));
  return pool;
}

/** Connection settings of `timeouts` (pg config fields, apart from `options`). */
export function boundedConfig(t: ConnectionTimeouts): pg.ClientConfig {
  return {
    connectionTimeoutMillis: t.connectMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: t.keepAliveMs,
    statement_timeout: t.statementMs,
    idle_in_transaction_session_timeout: t.idleInTransactionMs,
  };
}

/** Close every connection of `pool`, busy ones included: what is waiting on them fails now. */
export function destroyPoolConnections(pool: pg.Pool): void {
  for (const client of (pool as unknown as { _clients?: pg.Client[] })._clients ?? []) destroyConnection(client);
}

/**
 * A pool on the subscriber. Every session sets:
 * - pgferry.replica = on, so that capture triggers on subscriber tables (a leaf that is also
 *   a provider) skip the changes the replicator applies (a plain custom setting: no
 *   superuser needed; honoured only for members of pgferry_replicator, the owner of schema
 *   pgferry and superusers, so the worker's role must be one of them);
 * - synchronous_commit = on, whatever the server's default: a batch is finished on the
 *   provider once its subscriber transaction committed, so that commit must survive a
 *   subscriber crash (with synchronous_commit off the last commits can vanish, and the
 *   provider would never send them again).
 */
export function createSubscriberPool(c: ConnectionConfig, max = 5, timeouts?: ConnectionTimeouts): pg.Pool {
  return createPool(withSessionOptions(baseConfig(c), '-c pgferry.replica=on -c synchronous_commit=on'), max, timeouts);
}

/** True when `p` settled within `ms` (its outcome is ignored). */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = p.then(
    () => true,
    () => true,
  );
  const r = await Promise.race([done, timeout]);
  clearTimeout(timer);
  return r;
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
