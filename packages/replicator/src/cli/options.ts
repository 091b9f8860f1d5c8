/**
 * What the replicate commands share: the provider/subscriber/node options, and the action
 * wrapper of @pgferry/queue/cli (output as a table or --json, one-line errors, exit codes)
 * with pools on the databases the command names.
 */
import { Command, Option } from 'commander';
import type pg from 'pg';
import { action, examples as queueExamples, labelOf, TargetError, type Context } from '@pgferry/queue/cli';
import { maxNodeNameLength } from '../admin/node-name.js';

export const providerOption = () => new Option('--provider <url>', 'provider (root) database URL').makeOptionMandatory();
export const subscriberOption = () => new Option('--subscriber <url>', 'subscriber (leaf) database URL').makeOptionMandatory();
export const leafOption = () =>
  new Option('--node <name>', `leaf node: the subscription (its consumer on the root's queue; 1 to ${maxNodeNameLength()} of A-Z a-z 0-9 _ . -)`).makeOptionMandatory();

/** "a,b" as ['a', 'b']. */
export const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

/** Add "Examples:" (each line after `pgferry replicate `) to a command's help. */
export function examples(cmd: Command, lines: string[]): Command {
  return queueExamples(cmd, lines.map((l) => `pgferry replicate ${l}`));
}

/** The databases a command opens, each checked on open so that a refusal names its side. */
export class Databases {
  private readonly pools: pg.Pool[] = [];

  constructor(private readonly connectTimeoutMs: number) {}

  /** `check: false`: not connected on open (status reports a provider it cannot reach). */
  provider(url: string, options: { check?: boolean } = {}): Promise<pg.Pool> {
    return this.open('provider', url, options.check);
  }

  subscriber(url: string): Promise<pg.Pool> {
    return this.open('subscriber', url);
  }

  // Both sides read and write values exactly (VALUE_SETTINGS). Not the worker's subscriber
  // sessions: an admin command's writes are not the replicator's applied changes.
  private async open(role: string, url: string, check = true): Promise<pg.Pool> {
    // Loaded here, as every module a command needs only when it runs: `pgferry --help` and
    // the queue commands do not pay for the replicator (start-up time).
    const [{ DEFAULT_TIMEOUTS, withClient }, { createProviderPool }] = await Promise.all([import('@pgferry/queue'), import('../connections.js')]);
    const pool = createProviderPool(url, 2, { ...DEFAULT_TIMEOUTS, connectMs: this.connectTimeoutMs });
    this.pools.push(pool);
    if (!check) return pool;
    try {
      await withClient(pool, async () => undefined);
    } catch (err) {
      throw new TargetError(err, { label: `${role} ${labelOf(url)}`, config: {} });
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.end().catch(() => undefined)));
  }
}

/** queue/cli's action(), with the databases the command opens closed at the end. */
export function run<A extends unknown[]>(body: (ctx: Context, dbs: Databases, ...args: A) => Promise<void>) {
  return action<A>(async (ctx, ...args) => {
    const dbs = new Databases(ctx.connectTimeout);
    try {
      await body(ctx, dbs, ...args);
    } finally {
      await dbs.close();
    }
  });
}
