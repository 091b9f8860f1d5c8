/**
 * Daemon configuration: a JSON file checked with zod (a bad file is refused with the path
 * of each error), with command-line flags laid over it.
 *
 *   {
 *     "databases": [
 *       "postgres://pgferry@db1/app",
 *       { "name": "billing", "url": "postgres://pgferry@db2/billing", "tickIntervalMs": 20 }
 *     ],
 *     "metrics": { "port": 9187 },
 *     "console": { "port": 9190, "write": true, "tokenFile": "/etc/pgferry/console.token" },
 *     "tickIntervalMs": 100,
 *     "maintIntervalMs": 2000,
 *     "logFormat": "text"
 *   }
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { labelOf } from '../cli/context.js';
import { DEFAULT_METRICS_HOST } from '../metrics/server.js';
import { consoleConfigSchema, resolveConsoleConfig, withConsoleOverrides, type ConsoleConfig, type ConsoleOverrides } from '../console/config.js';

const interval = z.number().int().positive();

/** `metrics: { port, host }` of a daemon's config (`pgferry daemon`, `pgferry replicate worker`). */
export const metricsConfigSchema = z.strictObject({
  /** 0: any free port (logged). */
  port: z.number().int().min(0).max(65535),
  host: z.string().min(1).default(DEFAULT_METRICS_HOST),
});

const databaseEntry = z.strictObject({
  /** Label in logs and metrics (default: host:port/database of the URL). */
  name: z.string().min(1).optional(),
  url: z.string().min(1),
  tickIntervalMs: interval.optional(),
  maintIntervalMs: interval.optional(),
});

export const daemonConfigSchema = z
  .strictObject({
    // A URL string is short for { url }: preprocessed so errors point into the object.
    databases: z
      .array(z.preprocess((v) => (typeof v === 'string' ? { url: v } : v), databaseEntry))
      .min(1, 'give at least one database'),
    /** How often the ticker rules are checked (ms). */
    tickIntervalMs: interval.default(100),
    /** How often maintenance runs (ms). */
    maintIntervalMs: interval.default(2000),
    /** How often a standby daemon tries to become the ticker leader (ms). */
    standbyIntervalMs: interval.default(1000),
    metrics: metricsConfigSchema.optional(),
    console: consoleConfigSchema.optional(),
    logFormat: z.enum(['text', 'json']).default('text'),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.databases.forEach((d, i) => {
      const name = d.name ?? labelOf(d.url);
      if (seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['databases', i], message: `duplicate database name "${name}" (set "name")` });
      }
      seen.add(name);
    });
  });

export type DaemonConfigInput = z.input<typeof daemonConfigSchema>;

export interface DatabaseConfig {
  name: string;
  url: string;
  tickIntervalMs: number;
  maintIntervalMs: number;
  standbyIntervalMs: number;
}

export interface DaemonConfig {
  databases: DatabaseConfig[];
  metrics: { port: number; host: string } | undefined;
  /** The web console (its own listener, 127.0.0.1 by default). */
  console: ConsoleConfig | undefined;
  logFormat: 'text' | 'json';
}

/** A config that cannot be used, with one line per problem ("databases.0.url: ..."). */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/** One line per problem of a zod check: "path.to.value: message" ("(top)" for the root). */
export function configProblems(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`);
}

/** A JSON config file's top-level object (a ConfigError when it cannot be read or is not one). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, ['(top): expected an object']);
  }
  return raw as Record<string, unknown>;
}

/** Check raw input (parsed JSON plus flags) and resolve defaults. */
export function parseDaemonConfig(input: unknown, source = '(flags)'): DaemonConfig {
  const r = daemonConfigSchema.safeParse(input);
  if (!r.success) throw new ConfigError(source, configProblems(r.error));
  const c = r.data;
  const consoleConfig = resolveConsoleConfig(c.console);
  if (consoleConfig.problems.length) throw new ConfigError(source, consoleConfig.problems);
  return {
    databases: c.databases.map((e) => {
      return {
        name: e.name ?? labelOf(e.url),
        url: e.url,
        tickIntervalMs: e.tickIntervalMs ?? c.tickIntervalMs,
        maintIntervalMs: e.maintIntervalMs ?? c.maintIntervalMs,
        standbyIntervalMs: c.standbyIntervalMs,
      };
    }),
    metrics: c.metrics,
    console: consoleConfig.config,
    logFormat: c.logFormat,
  };
}

/** Flags that override the file (undefined: keep the file's). */
export interface DaemonOverrides extends ConsoleOverrides {
  databases?: string[];
  metricsPort?: number;
  metricsHost?: string;
  tickIntervalMs?: number;
  maintIntervalMs?: number;
  logFormat?: string;
}

/** Read the config file (if any), lay the flags over it, check the result. */
export function loadDaemonConfig(file: string | undefined, overrides: DaemonOverrides): DaemonConfig {
  const raw = file ? readConfigFile(file) : {};
  const merged: Record<string, unknown> = { ...raw };
  if (overrides.databases?.length) merged.databases = overrides.databases;
  if (overrides.tickIntervalMs !== undefined) merged.tickIntervalMs = overrides.tickIntervalMs;
  if (overrides.maintIntervalMs !== undefined) merged.maintIntervalMs = overrides.maintIntervalMs;
  if (overrides.logFormat !== undefined) merged.logFormat = overrides.logFormat;
  withMetricsOverrides(merged, overrides);
  withConsoleOverrides(merged, overrides);
  return parseDaemonConfig(merged, file ?? '(flags)');
}

/** A config's `metrics` with --metrics-port / --metrics-host applied over it (both daemons). */
export function withMetricsOverrides(config: Record<string, unknown>, overrides: { metricsPort?: number; metricsHost?: string }): void {
  if (overrides.metricsPort === undefined && overrides.metricsHost === undefined) return;
  const m = (typeof config.metrics === 'object' && config.metrics !== null ? config.metrics : {}) as Record<string, unknown>;
  config.metrics = {
    ...m,
    ...(overrides.metricsPort !== undefined ? { port: overrides.metricsPort } : {}),
    ...(overrides.metricsHost !== undefined ? { host: overrides.metricsHost } : {}),
  };
}
