/**
 * What every command shares: which databases to talk to (--db, PGFERRY_DB, or libpq's PG*
 * variables), one pool per database, output as a table or --json, and errors turned into
 * one line and an exit code.
 */
import pg from 'pg';
import { NotInstalledError, PgferryError, translateError } from '@pgferry/sql';
import { connectionLabel, createPool, isConnectionError } from '../runtime/index.js';
import { renderTable, type Column } from './format.js';

/** Exit codes (documented in `pgferry --help`). */
export const EXIT = {
  OK: 0,
  /** The operation failed: unknown queue or consumer, refused by pgferry, check failed. */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** Could not connect to a database. */
  CONNECT: 3,
  /** pgferry is not installed in the database. */
  NOT_INSTALLED: 4,
} as const;

/** An error the CLI reports as one line with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILED,
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  db?: string[];
  json?: boolean;
  connectTimeout?: number;
}

export interface Target {
  /** host:port/database, no credentials: for output and messages. */
  label: string;
  config: pg.PoolConfig;
}

/** Databases named on the command line, else PGFERRY_DB (whitespace-separated), else PG* variables. */
export function resolveTargets(dbs: string[] | undefined, env: NodeJS.ProcessEnv = process.env): Target[] {
  const urls = dbs?.length ? dbs : (env.PGFERRY_DB ?? '').split(/\s+/).filter(Boolean);
  if (urls.length === 0) {
    // node-postgres reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE itself.
    const user = env.PGUSER ?? env.USER ?? 'postgres';
    const label = `${env.PGHOST ?? 'localhost'}:${env.PGPORT ?? '5432'}/${env.PGDATABASE ?? user}`;
    return [{ label, config: {} }];
  }
  return urls.map((url) => ({ label: labelOf(url), config: { connectionString: url } }));
}

/** host:port/database of a connection URL, without user or password. */
export function labelOf(url: string): string {
  return connectionLabel(url);
}

/** One line for an error, and the exit code it deserves. */
export function describeError(raw: unknown, target?: Target): { message: string; exitCode: number } {
  const where = target ? `${target.label}: ` : '';
  // A server error on a missing pgferry schema (or one of ours by SQLSTATE) becomes typed.
  const err = translateError(raw);
  if (err instanceof CliError) return { message: `${where}${err.message}`, exitCode: err.exitCode };
  if (err instanceof NotInstalledError) {
    return {
      message: `${where}pgferry is not installed in this database; install it with \`pgferry install\``,
      exitCode: EXIT.NOT_INSTALLED,
    };
  }
  if (err instanceof PgferryError) return { message: `${where}${oneLine(err.message)}`, exitCode: EXIT.FAILED };
  const e = err as Error & { code?: string };
  // Refused at connection time: bad password, no such database or role, too many clients.
  if (isConnectionError(err) || ['28P01', '28000', '3D000', '53300', '57P03'].includes(e.code ?? '') || /timeout exceeded when trying to connect|connection timeout/i.test(e.message ?? '')) {
    const reason = e.message || e.code || 'connection failed';
    return { message: `cannot connect to ${target?.label ?? 'the database'}: ${oneLine(reason)}`, exitCode: EXIT.CONNECT };
  }
  return { message: `${where}${oneLine(e?.message ?? String(err))}`, exitCode: EXIT.FAILED };
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

export interface Output {
  write(s: string): void;
}

export class Context {
  readonly targets: Target[];
  readonly json: boolean;
  /** Errors of single databases when a command ran on several (reported at the end). */
  readonly errors: { message: string; exitCode: number }[] = [];
  private readonly pools = new Map<Target, pg.Pool>();
  /** --connect-timeout (ms). */
  readonly connectTimeout: number;

  constructor(
    options: GlobalOptions,
    readonly out: Output = process.stdout,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.targets = resolveTargets(options.db, env);
    this.json = options.json ?? false;
    this.connectTimeout = options.connectTimeout ?? 10_000;
  }

  get multi(): boolean {
    return this.targets.length > 1;
  }

  pool(target: Target): pg.Pool {
    let pool = this.pools.get(target);
    if (!pool) {
      pool = createPool({ ...target.config, connectionTimeoutMillis: this.connectTimeout }, { max: 2, applicationName: 'pgferry-cli' });
      this.pools.set(target, pool);
    }
    return pool;
  }

  /** The one database of a command that works on one. */
  single(): { target: Target; pool: pg.Pool } {
    if (this.targets.length !== 1) {
      throw new CliError('this command works on one database: give a single --db', EXIT.USAGE);
    }
    const target = this.targets[0]!;
    return { target, pool: this.pool(target) };
  }

  /**
   * Run `fn` on every database, in parallel. With one database an error is thrown; with
   * several, each failing database is reported at the end and the others' results kept.
   */
  async each<T>(fn: (pool: pg.Pool, target: Target) => Promise<T>): Promise<{ target: Target; value: T }[]> {
    if (!this.multi) {
      const target = this.targets[0]!;
      try {
        return [{ target, value: await fn(this.pool(target), target) }];
      } catch (err) {
        throw new TargetError(err, target);
      }
    }
    const settled = await Promise.allSettled(this.targets.map((t) => fn(this.pool(t), t)));
    const results: { target: Target; value: T }[] = [];
    settled.forEach((s, i) => {
      const target = this.targets[i]!;
      if (s.status === 'fulfilled') results.push({ target, value: s.value });
      else this.errors.push(describeError(s.reason, target));
    });
    return results;
  }

  /** Rows from every database, with a `database` field first when there are several. */
  async rows<T extends object>(fn: (pool: pg.Pool, target: Target) => Promise<T[]>): Promise<(T & { database?: string })[]> {
    const results = await this.each(fn);
    return results.flatMap(({ target, value }) =>
      this.multi ? value.map((row) => ({ database: target.label, ...row })) : value,
    );
  }

  /** Print rows as a table (with a DATABASE column when there are several), or as JSON. */
  printRows<T extends object>(rows: (T & { database?: string })[], columns: Column<T>[], empty = '(none)'): void {
    if (this.json) return this.printJson(rows);
    const cols: Column<T & { database?: string }>[] = this.multi
      ? [{ header: 'DATABASE', value: (r) => r.database }, ...columns]
      : columns;
    this.out.write(renderTable(rows, cols) + '\n');
    if (rows.length === 0) this.out.write(`${empty}\n`);
  }

  printJson(value: unknown): void {
    this.out.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** A line of text (not printed with --json: the command prints its JSON instead). */
  say(line: string): void {
    if (!this.json) this.out.write(line + '\n');
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => undefined)));
  }
}

/** An error of one database, carrying the database for the message. */
export class TargetError extends Error {
  constructor(
    readonly error: unknown,
    readonly target: Target,
  ) {
    super((error as Error)?.message ?? String(error));
  }
}
