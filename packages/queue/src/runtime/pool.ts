/**
 * Connection settings and pools: a connection string or config to a client config, bounds
 * on every wait of a connection, and pools whose clients can never crash the process.
 */
import pg from 'pg';
import createDebug from 'debug';
import { destroyConnection, untilLost } from './connection.js';

const debug = createDebug('pgferry:pool');

/** A connection string, or node-postgres' pool/client config. */
export type ConnectionConfig = string | pg.PoolConfig;

/** host:port/database of a connection, without user or password: for logs and metric labels. */
export function connectionLabel(c: ConnectionConfig): string {
  if (typeof c !== 'string') {
    if (c.connectionString) return connectionLabel(c.connectionString);
    return `${c.host ?? 'localhost'}:${c.port ?? 5432}/${c.database ?? c.user ?? 'postgres'}`;
  }
  try {
    const u = new URL(c);
    const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
    return `${u.hostname || 'localhost'}:${u.port || '5432'}/${db}`;
  } catch {
    return c.replace(/\/\/[^@/]*@/, '//');
  }
}

/** The config of `c` (a copy: the caller's object is never changed). */
export function clientConfig(c: ConnectionConfig): pg.PoolConfig {
  return typeof c === 'string' ? { connectionString: c } : { ...c };
}

/**
 * Bounds on every wait of a long-running process's connections, so that a server that
 * stalls, a connection that is cut (half-open, or a proxy that stops forwarding) or a
 * backend that is killed turns into an error that is retried, never into a hang.
 */
export interface ConnectionTimeouts {
  /** Connecting, authentication included (ms). */
  connectMs: number;
  /** Server side: statement_timeout of the sessions (ms); COPY is exempt where it is used. */
  statementMs: number;
  /**
   * Client side: longest wait for the answer to one query or fetch (ms); past it the
   * socket is closed. Above statementMs, so that the server's own timeout fires first.
   */
  queryMs: number;
  /** Server side: idle_in_transaction_session_timeout of the sessions (ms). */
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

/**
 * A Client whose plain queries (promise or callback form, pool.query included) are bounded
 * by `queryMs` and fail at once when the connection is lost. Cursors and COPY streams
 * (submittables) are bounded where they are used.
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
export function withSessionOptions(config: pg.PoolConfig, options: string): pg.PoolConfig {
  return { ...config, options: `${config.options ?? ''} ${options}`.trim() };
}

export interface PoolOptions {
  /** Most connections at once. Default 5. */
  max?: number;
  /** Bounds on every wait (see ConnectionTimeouts): a long-running process should set them. */
  timeouts?: ConnectionTimeouts;
  /** `-c name=value ...` settings for every session. */
  sessionOptions?: string;
  /** application_name of the sessions, unless the config names one. */
  applicationName?: string;
}

/**
 * A pool whose clients never crash the process: node-postgres emits 'error' on a client
 * whose connection is lost, and a checked-out client has no listener of its own (the pool
 * listens to idle ones only), so every client gets one for its whole life. The loss still
 * reaches the query in flight, or the next one.
 */
export function createPool(c: ConnectionConfig, options: PoolOptions = {}): pg.Pool {
  let config: pg.PoolConfig = { max: options.max ?? 5, ...clientConfig(c) };
  if (options.applicationName && !config.application_name) config.application_name = options.applicationName;
  if (options.sessionOptions) config = withSessionOptions(config, options.sessionOptions);
  if (options.timeouts) Object.assign(config, boundedConfig(options.timeouts), { Client: boundedClient(options.timeouts.queryMs) });
  const pool = new pg.Pool(config);
  pool.on('connect', (client) => client.on('error', (err) => debug('connection lost: %s', err.message)));
  pool.on('error', (err) => debug('idle client error: %s', err.message));
  return pool;
}

/** Close every connection of `pool`, busy ones included: what is waiting on them fails now. */
export function destroyPoolConnections(pool: pg.Pool): void {
  for (const client of (pool as unknown as { _clients?: pg.Client[] })._clients ?? []) destroyConnection(client);
}
