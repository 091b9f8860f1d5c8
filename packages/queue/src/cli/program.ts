/**
 * The `pgferry` command tree (commander). @pgferry/cli runs it with the replicator's
 * commands added (`pgferry replicate ...`): this package cannot import the replicator.
 */
import { Command, CommanderError, Option } from 'commander';
import { consumerCommands } from './consumer.js';
import { deadLetterCommands } from './dead-letter.js';
import { daemonCommand } from './daemon.js';
import { eventCommands } from './events.js';
import { cliVersion, installCommands, type ComponentInfo } from './install.js';
import { collect, io, parseInteger, EXIT } from './options.js';
import { queueCommands } from './queue.js';
import { tickCommands } from './tick.js';

const HELP_FOOTER = `
Connection:
  --db URL (repeatable), else PGFERRY_DB (one URL, or several separated by spaces), else
  the usual libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). Read
  commands and install/upgrade/tick/maint run on every database given; the rest on each
  too, except where one database is needed (events, consumer rewind).

Output:
  Tables for people; --json for scripts (with several databases, each row has "database").

Exit codes:
  0 ok   1 failed (unknown queue or consumer, refused, check over threshold)
  2 bad command line or config   3 cannot connect   4 pgferry not installed (run \`pgferry install\`)

Examples:
  $ pgferry --db postgres://admin@db1/app install
  $ pgferry queue create orders
  $ pgferry consumer lag --max-lag 300
  $ pgferry daemon --config /etc/pgferry/daemon.json
`;

export interface ProgramOptions {
  /** More command trees (e.g. the replicator's `replicate`), with the same conventions. */
  commands?: Command[];
  /** The program's description (default: the queue commands'). */
  description?: string;
  /** Help text lines under "Examples:" for those commands. */
  examples?: string[];
  /** Components built on the SQL layer whose migrations `pgferry version` reports. */
  components?: ComponentInfo[];
}

export function buildProgram(options: ProgramOptions = {}): Command {
  const program = new Command('pgferry')
    .description(options.description ?? 'pgferry admin: PGQ-style queues on PostgreSQL (install, queues, consumers, events, dead letters, ticker daemon)')
    .version(cliVersion(), '-V, --cli-version', 'print the CLI version')
    .addOption(new Option('--db <url>', 'database URL (repeat for several)').argParser(collect))
    .option('--json', 'machine-readable output')
    .option('--connect-timeout <ms>', 'give up connecting after this long', parseInteger, 10_000)
    .addHelpText('after', HELP_FOOTER + (options.examples ?? []).map((l) => `  $ ${l}\n`).join(''));
  program.configureOutput({
    writeOut: (s) => io.out.write(s),
    writeErr: (s) => io.err.write(s),
    // A usage error is one line, as every other error.
    outputError: (s, write) => write(`pgferry: ${s.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (add --help for usage)\n`),
  });
  installCommands(program, options.components);
  queueCommands(program);
  consumerCommands(program);
  eventCommands(program);
  deadLetterCommands(program);
  tickCommands(program);
  daemonCommand(program);
  for (const cmd of options.commands ?? []) {
    program.addCommand(cmd);
    // A tree built elsewhere gets the program's settings (output, help after an error),
    // as the commands made by program.command() have.
    const inherit = (c: Command, parent: Command) => {
      c.copyInheritedSettings(parent);
      c.commands.forEach((sub) => inherit(sub, c));
    };
    inherit(cmd, program);
  }
  // Usage errors exit 2 (not commander's 1): see EXIT.
  const exitOverride = (err: CommanderError) => {
    throw err;
  };
  const apply = (cmd: Command) => {
    cmd.exitOverride(exitOverride);
    cmd.commands.forEach(apply);
  };
  apply(program);
  return program;
}

/** Parse and run; returns the exit code. */
export async function runCli(argv: string[], options: ProgramOptions = {}): Promise<number> {
  const program = buildProgram(options);
  process.exitCode = 0;
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.OK;
      // commander printed the message already.
      return EXIT.USAGE;
    }
    io.err.write(`pgferry: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  }
  return Number(process.exitCode ?? 0);
}
