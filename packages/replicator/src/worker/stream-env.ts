/** What the main stream and the catch-ups of one subscription work with. */
import type pg from 'pg';
import type { HandlerRegistry } from '../handlers/registry.js';

export interface StreamEnv {
  /** The subscription (leaf or branch) name: the main stream's consumer on the provider's queue. */
  name: string;
  /** A branch copies every batch into its own queue (see stream/branch-copy.ts). */
  nodeType: 'leaf' | 'branch';
  /** The provider node the stream reads from (provider is its pool). */
  providerNode: string | null;
  provider: pg.Pool;
  subscriber: pg.Pool;
  handlers: HandlerRegistry;
  fetchSize: number;
  maxKeysPerFlush: number;
  /** Longest wait for one fetch from the provider (ms). */
  readTimeoutMs: number;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

/** The batch-apply settings of `env`. */
export function applySettings(env: StreamEnv) {
  return {
    provider: env.provider,
    subscriber: env.subscriber,
    subscription: env.name,
    handlers: env.handlers,
    fetchSize: env.fetchSize,
    maxKeys: env.maxKeysPerFlush,
    readTimeoutMs: env.readTimeoutMs,
    log: (level: 'info' | 'warn', message: string) => env.log(level, message),
  };
}
