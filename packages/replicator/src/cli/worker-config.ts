/**
 * The worker's configuration (`pgferry replicate worker --config FILE`): a JSON file checked
 * with zod (a bad file is refused with the path of each error, as `pgferry daemon`'s), with
 * command-line flags laid over it.
 *
 *   {
 *     "subscriptions": [
 *       { "subscription": "leaf1", "provider": "postgres://...", "subscriber": "postgres://...",
 *         "parallelCopies": 2, "fetchSize": 2000, "timeouts": { "queryMs": 60000 } }
 *     ],
 *     "handlers": { "audit": "./handlers/audit.js" },
 *     "ticker": true,
 *     "metrics": { "port": 9188, "host": "0.0.0.0" },
 *     "console": { "port": 9191, "host": "127.0.0.1", "write": false, "tokenFile": "/etc/pgferry/console.token" },
 *     "logFormat": "text"
 *   }
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, configProblems, metricsConfigSchema, readConfigFile, withMetricsOverrides } from '@pgferry/queue/daemon';
import { consoleConfigSchema, resolveConsoleConfig, withConsoleOverrides, type ConsoleConfig, type ConsoleOverrides } from '@pgferry/queue/console';
import { HandlerRegistry } from '../handlers/registry.js';
import type { SubscriptionWorkerOptions } from '../worker/subscription-worker.js';

const ms = z.number().int().positive();
const count = z.number().int().positive();

const timeoutsSchema = z.strictObject({
  connectMs: ms.optional(),
  statementMs: ms.optional(),
  queryMs: ms.optional(),
  idleInTransactionMs: ms.optional(),
  keepAliveMs: ms.optional(),
  copyStallMs: ms.optional(),
});

const subscriptionSchema = z
  .strictObject({
    /** The leaf or branch node (its consumer on its provider's queue). */
    subscription: z.string().min(1),
    /** Only for a node that records no provider location (see SubscriptionWorkerOptions.provider). */
    provider: z.string().min(1).optional(),
    subscriber: z.string().min(1),
    parallelCopies: count.optional(),
    copyChunkRows: z.number().int().nonnegative().optional(),
    copyChunkBytes: count.optional(),
    pollIntervalMs: ms.optional(),
    /** Wake on the provider's tick NOTIFY (one more connection to it); default true. */
    listen: z.boolean().optional(),
    fetchSize: count.optional(),
    maxKeysPerFlush: count.optional(),
    retryMinMs: ms.optional(),
    retryMaxMs: ms.optional(),
    stopTimeoutMs: ms.optional(),
    timeouts: timeoutsSchema.optional(),
  })
  .refine((s) => s.retryMinMs === undefined || s.retryMaxMs === undefined || s.retryMinMs <= s.retryMaxMs, {
    path: ['retryMaxMs'],
    message: 'must be at least retryMinMs',
  });

const subscriptionsSchema = z
  .array(subscriptionSchema)
  .min(1, 'give at least one subscription')
  .superRefine(
    (subs, ctx) => {
      if (!Array.isArray(subs)) return; // reported as such
      const seen = new Set<unknown>();
      subs.forEach((s, i) => {
        const name = (s as { subscription?: unknown } | undefined)?.subscription;
        if (typeof name === 'string' && seen.has(name)) {
          ctx.addIssue({ code: 'custom', path: [i, 'subscription'], message: `duplicate subscription "${name}"` });
        }
        seen.add(name);
      });
    },
    // Also when some subscription has other errors: every problem is reported at once.
    { when: () => true },
  );

export const workerConfigSchema = z.strictObject({
  subscriptions: subscriptionsSchema,
  /** User handlers: name -> module (relative to the config file). */
  handlers: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'a handler name is letters, digits, _ . -'), z.string().min(1))
    .default({}),
  /** Run a ticker (and queue maintenance) on each database. */
  ticker: z.boolean().default(true),
  tickIntervalMs: ms.default(100),
  metrics: metricsConfigSchema.optional(),
  console: consoleConfigSchema.optional(),
  logFormat: z.enum(['text', 'json']).default('text'),
});

export type WorkerConfigInput = z.input<typeof workerConfigSchema>;

export type SubscriptionConfig = Omit<SubscriptionWorkerOptions, 'log' | 'handlers'> & { provider?: string; subscriber: string };

export interface WorkerConfig {
  /** The file it was read from ('(flags)' without one). */
  source: string;
  subscriptions: SubscriptionConfig[];
  /** Handler name -> absolute module path. */
  handlers: Record<string, string>;
  ticker: boolean;
  tickIntervalMs: number;
  metrics: { port: number; host: string } | undefined;
  /** The web console (its own listener, 127.0.0.1 by default). */
  console: ConsoleConfig | undefined;
  logFormat: 'text' | 'json';
}

/** Flags laid over the file (undefined: keep the file's). */
export interface WorkerOverrides extends ConsoleOverrides {
  /** A single subscription (--node, --provider, --subscriber): replaces the file's list. */
  subscription?: { subscription?: string; provider?: string; subscriber?: string };
  parallelCopies?: number;
  pollIntervalMs?: number;
  retryMinMs?: number;
  ticker?: boolean;
  metricsPort?: number;
  metricsHost?: string;
  logFormat?: string;
}

/** Read the config file (if any), lay the flags over it, check the result. */
export function loadWorkerConfig(file: string | undefined, overrides: WorkerOverrides = {}): WorkerConfig {
  const raw = file ? readConfigFile(file) : {};
  const merged: Record<string, unknown> = { ...raw };
  const one = overrides.subscription;
  if (one && Object.values(one).some((v) => v !== undefined)) merged.subscriptions = [one];
  // Flags win over the file, as for `pgferry daemon`: for every subscription.
  const perSubscription = Object.fromEntries(
    Object.entries({ parallelCopies: overrides.parallelCopies, pollIntervalMs: overrides.pollIntervalMs, retryMinMs: overrides.retryMinMs }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  if (Array.isArray(merged.subscriptions) && Object.keys(perSubscription).length) {
    merged.subscriptions = merged.subscriptions.map((s: unknown) => (typeof s === 'object' && s !== null ? { ...s, ...perSubscription } : s));
  }
  if (overrides.ticker === false) merged.ticker = false;
  if (overrides.logFormat !== undefined) merged.logFormat = overrides.logFormat;
  withMetricsOverrides(merged, overrides);
  withConsoleOverrides(merged, overrides);
  return parseWorkerConfig(merged, file);
}

/** Check raw input; handler modules are resolved relative to the file's directory. */
export function parseWorkerConfig(input: unknown, file?: string): WorkerConfig {
  const source = file ?? '(flags)';
  const r = workerConfigSchema.safeParse(input);
  if (!r.success) throw new ConfigError(source, configProblems(r.error));
  const c = r.data;
  const consoleConfig = resolveConsoleConfig(c.console);
  if (consoleConfig.problems.length) throw new ConfigError(source, consoleConfig.problems);
  const baseDir = file ? path.dirname(path.resolve(file)) : process.cwd();
  return {
    source,
    subscriptions: c.subscriptions,
    handlers: Object.fromEntries(Object.entries(c.handlers).map(([name, m]) => [name, path.resolve(baseDir, m)])),
    ticker: c.ticker,
    tickIntervalMs: c.tickIntervalMs,
    metrics: c.metrics,
    console: consoleConfig.config,
    logFormat: c.logFormat,
  };
}

/** The handlers of a config, loaded: `version` changes when a module file does (reload). */
export interface LoadedHandlers {
  version: string;
  registry: HandlerRegistry;
}

/**
 * Load the config's handler modules (with the built-in handlers). `previous` is returned
 * as is when no module changed (same names, paths, file times and sizes). A module that
 * cannot be loaded, or exports no handler, is a ConfigError naming `handlers.<name>`.
 */
export async function loadHandlers(config: WorkerConfig, previous?: LoadedHandlers): Promise<LoadedHandlers> {
  const files = Object.entries(config.handlers).map(([name, file]) => {
    let stamp = 'missing';
    try {
      const st = statSync(file);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch {
      // import() below reports it
    }
    return [name, file, stamp];
  });
  const version = JSON.stringify(files);
  if (previous && previous.version === version) return previous;
  const registry = new HandlerRegistry();
  for (const [name, file] of Object.entries(config.handlers)) {
    try {
      registry.register(await HandlerRegistry.loadModule(name, file));
    } catch (err) {
      throw new ConfigError(config.source, [`handlers.${name}: ${(err as Error).message}`]);
    }
  }
  return { version, registry };
}
