/** Connections: pools that survive server restarts, and the subscriber's replica setting. */
import pg from 'pg';
import createDebug from 'debug';

const debug = createDebug('pgferry:replicator:db');

export type ConnectionConfig = string | pg.PoolConfig;

function baseConfig(c: ConnectionConfig): pg.PoolConfig {
  return typeof c === 'string' ? { connectionString: c } : { ...c };
}

/** A pool whose idle clients' errors (server restart) are logged, not thrown. */
export function createPool(c: ConnectionConfig, max = 5): pg.Pool {
  const pool = new pg.Pool({ max, ...baseConfig(c) });
  pool.on('error', (err) => debug('idle client error: %s', err.message));
  return pool;
}

/**
 * A pool on the subscriber. Every session sets:
 * - pgferry.replica = on, so that capture triggers on subscriber tables (a leaf that is also
 *   a provider) skip the changes the replicator applies (a plain custom setting: no
 *   superuser needed);
 * - synchronous_commit = on, whatever the server's default: a batch is finished on the
 *   provider once its subscriber transaction committed, so that commit must survive a
 *   subscriber crash (with synchronous_commit off the last commits can vanish, and the
 *   provider would never send them again).
 */
export function createSubscriberPool(c: ConnectionConfig, max = 5): pg.Pool {
  const config = baseConfig(c);
  config.options = `${config.options ?? ''} -c pgferry.replica=on -c synchronous_commit=on`.trim();
  return createPool(config, max);
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
