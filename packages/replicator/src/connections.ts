/**
 * The replicator's connections: pools on the provider and the subscriber whose sessions
 * read and write values exactly (VALUE_SETTINGS), and on the subscriber mark the
 * replicator's own writes.
 */
import type pg from 'pg';
import { VALUE_SETTINGS, createPool, settingsOptions, type ConnectionConfig, type ConnectionTimeouts } from '@pgferry/queue';

/**
 * A pool whose sessions read and write values as text under VALUE_SETTINGS: a copied or
 * applied value is the provider's exactly, whatever the servers', databases' or roles'
 * defaults.
 */
export function createProviderPool(c: ConnectionConfig, max = 5, timeouts?: ConnectionTimeouts): pg.Pool {
  return createPool(c, { max, timeouts, sessionOptions: settingsOptions(VALUE_SETTINGS), applicationName: 'pgferry-replicator' });
}

/**
 * A pool on the subscriber, as createProviderPool's, whose sessions also set:
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
  return createPool(c, {
    max,
    timeouts,
    sessionOptions: `${settingsOptions(VALUE_SETTINGS)} -c pgferry.replica=on -c synchronous_commit=on`,
    applicationName: 'pgferry-replicator',
  });
}
