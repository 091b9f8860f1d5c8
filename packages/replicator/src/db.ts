/** Connections: pools that survive server restarts, and the subscriber's replica setting. */
import pg from 'pg';
import createDebug from 'debug';
import { VALUE_SETTINGS, settingsOptions } from '@pgferry/queue';

const debug = createDebug('pgferry:replicator:db');

export type ConnectionConfig = string | pg.PoolConfig;

function baseConfig(c: ConnectionConfig): pg.PoolConfig {
  return typeof c === 'string' ? { connectionString: c } : { ...c };
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
export function createPool(c: ConnectionConfig, max = 5): pg.Pool {
  const pool = new pg.Pool({ max, ...withSessionOptions(baseConfig(c), settingsOptions(VALUE_SETTINGS)) });
  pool.on('error', (err) => debug('idle client error: %s', err.message));
  return pool;
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
export function createSubscriberPool(c: ConnectionConfig, max = 5): pg.Pool {
  return createPool(withSessionOptions(baseConfig(c), '-c pgferry.replica=on -c synchronous_commit=on'), max);
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
