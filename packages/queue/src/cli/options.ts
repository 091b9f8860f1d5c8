/** Option parsers and the action wrapper shared by command modules. */
import { Command, InvalidArgumentError as CommanderInvalidArgument } from 'commander';
import { Context, CliError, EXIT, TargetError, describeError, type GlobalOptions, type Output } from './context.js';

export function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new CommanderInvalidArgument('expected a whole number');
  return n;
}

export function parseNonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new CommanderInvalidArgument('expected a number >= 0');
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A tick id: a positive whole number (kept as text: bigint). */
export function parseTickId(value: string): string {
  if (!/^\d+$/.test(value)) throw new CommanderInvalidArgument('expected a tick id (a whole number)');
  return value;
}

/** A timestamp PostgreSQL and JavaScript agree on (ISO 8601; without a zone: UTC). */
export function parseTimestamp(value: string): Date {
  const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(value) || !/\d\d:\d\d/.test(value) ? value : `${value}Z`;
  const d = new Date(withZone);
  if (Number.isNaN(d.getTime())) throw new CommanderInvalidArgument('expected a timestamp, e.g. 2026-01-31T12:00:00Z');
  return d;
}

/** Add "Examples:" to a command's help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** Where commands print: process.stdout, or a test's buffer. */
export const io: { out: Output; err: Output } = { out: process.stdout, err: process.stderr };

/**
 * Wrap a command body: build its Context from the global options, run it, close the
 * pools, turn errors into one line on stderr and an exit code.
 */
export function action<A extends unknown[]>(
  body: (ctx: Context, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const ctx = new Context(cmd.optsWithGlobals<GlobalOptions>(), io.out);
    try {
      await body(ctx, ...(args.slice(0, -1) as A));
    } catch (err) {
      const d = err instanceof TargetError ? describeError(err.error, ctx.multi ? err.target : undefined) : describeError(err);
      // A connection error always names the database.
      const msg =
        err instanceof TargetError && d.exitCode === EXIT.CONNECT ? describeError(err.error, err.target).message : d.message;
      ctx.errors.unshift({ message: msg, exitCode: d.exitCode });
    } finally {
      await ctx.close();
    }
    for (const e of ctx.errors) io.err.write(`pgferry: ${e.message}\n`);
    if (ctx.errors.length) process.exitCode = ctx.errors[0]!.exitCode;
  };
}

export { CliError, EXIT };
