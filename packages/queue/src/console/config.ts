/**
 * `console: { port, host, write, tokenFile }` of a daemon's config (`pgferry daemon`,
 * `pgferry replicate worker`), and the flags laid over it. The console has its own
 * listener, not the metrics port: metrics bind every interface by default (for a remote
 * Prometheus), the console binds 127.0.0.1 unless told otherwise.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Where the console listens by default: this machine only. */
export const DEFAULT_CONSOLE_HOST = '127.0.0.1';
/** The environment variable a write token may come from (instead of tokenFile). */
export const CONSOLE_TOKEN_ENV = 'PGFERRY_CONSOLE_TOKEN';
const MIN_TOKEN_LENGTH = 16;

export const consoleConfigSchema = z.strictObject({
  /** 0: any free port (logged). */
  port: z.number().int().min(0).max(65535),
  host: z.string().min(1).default(DEFAULT_CONSOLE_HOST),
  /** Allow actions (replay, purge, rewind, pause, resync), each behind the token. */
  write: z.boolean().default(false),
  /** A file holding the token (else PGFERRY_CONSOLE_TOKEN). */
  tokenFile: z.string().min(1).optional(),
});

export interface ConsoleConfig {
  port: number;
  host: string;
  write: boolean;
  /** Set when write is. */
  token: string | undefined;
}

/** Flags that override the file's `console` (undefined: keep the file's). */
export interface ConsoleOverrides {
  consolePort?: number;
  consoleHost?: string;
  consoleWrite?: boolean;
  consoleTokenFile?: string;
}

/** A config's `console` with the --console-* flags applied over it (both daemons). */
export function withConsoleOverrides(config: Record<string, unknown>, o: ConsoleOverrides): void {
  if (o.consolePort === undefined && o.consoleHost === undefined && o.consoleWrite === undefined && o.consoleTokenFile === undefined) return;
  const c = (typeof config.console === 'object' && config.console !== null ? config.console : {}) as Record<string, unknown>;
  config.console = {
    ...c,
    ...(o.consolePort !== undefined ? { port: o.consolePort } : {}),
    ...(o.consoleHost !== undefined ? { host: o.consoleHost } : {}),
    ...(o.consoleWrite !== undefined ? { write: o.consoleWrite } : {}),
    ...(o.consoleTokenFile !== undefined ? { tokenFile: o.consoleTokenFile } : {}),
  };
}

/**
 * The console's settings with its token read (from tokenFile, else the environment).
 * Returns problems ("console.tokenFile: ...") instead of throwing: the caller's ConfigError.
 */
export function resolveConsoleConfig(
  c: z.output<typeof consoleConfigSchema> | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { config: ConsoleConfig | undefined; problems: string[] } {
  if (!c) return { config: undefined, problems: [] };
  if (!c.write) return { config: { port: c.port, host: c.host, write: false, token: undefined }, problems: [] };
  let token: string | undefined;
  if (c.tokenFile) {
    try {
      token = readFileSync(c.tokenFile, 'utf8').trim();
    } catch (err) {
      return { config: undefined, problems: [`console.tokenFile: cannot read: ${(err as Error).message}`] };
    }
  } else {
    token = env[CONSOLE_TOKEN_ENV]?.trim();
  }
  if (!token) {
    return { config: undefined, problems: [`console.write: needs a token (console.tokenFile / --console-token-file, or ${CONSOLE_TOKEN_ENV})`] };
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    return { config: undefined, problems: [`console token: at least ${MIN_TOKEN_LENGTH} characters, no spaces (e.g. \`openssl rand -hex 24\`)`] };
  }
  return { config: { port: c.port, host: c.host, write: true, token }, problems: [] };
}
