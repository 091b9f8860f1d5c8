/** daemon: ticker + maintenance for one or many databases, with a metrics endpoint. */
import { Command } from 'commander';
import { examples, parseInteger } from './options.js';

export interface DaemonFlags {
  config?: string;
  metricsPort?: number;
  metricsHost?: string;
  consolePort?: number;
  consoleHost?: string;
  consoleWrite?: boolean;
  consoleTokenFile?: string;
  tickInterval?: number;
  maintInterval?: number;
  logFormat?: string;
}

const CONFIG_HELP = `
Config file (JSON; every key optional except databases, flags win over it):
  {
    "databases": ["postgres://pgferry@db1/app",
                  { "name": "billing", "url": "postgres://pgferry@db2/billing", "tickIntervalMs": 20 }],
    "metrics": { "port": 9187, "host": "0.0.0.0" },
    "console": { "port": 9190, "host": "127.0.0.1", "write": false, "tokenFile": "/etc/pgferry/console.token" },
    "tickIntervalMs": 100, "maintIntervalMs": 2000, "standbyIntervalMs": 1000,
    "logFormat": "text"
  }
Without a config file and --db, PGFERRY_DB or the PG* variables name the database.

The console (a web page: queues, consumers, dead letters) binds 127.0.0.1 unless told
otherwise and is read-only; with --console-write, replay/purge dead letters, rewind a
consumer and pause/resume a queue's ticker, each behind the token (--console-token-file,
or PGFERRY_CONSOLE_TOKEN) and logged with who and when.

Signals: SIGTERM/SIGINT stop gracefully (leader locks released); SIGHUP re-reads the
config file (a bad one is refused and the running config kept).
Running two daemons on the same databases is safe: one leads per database, the other
takes over when it goes.`;

export function daemonCommand(program: Command): void {
  examples(
    program
      .command('daemon')
      .description('run the ticker and maintenance for one or many databases (pgqd replacement), with Prometheus metrics')
      .option('-c, --config <file>', 'JSON config file (see below)')
      .option('--metrics-port <port>', 'serve Prometheus metrics on this port (0: any free port)', parseInteger)
      .option('--metrics-host <host>', 'address for the metrics endpoint (default 0.0.0.0)')
      .option('--console-port <port>', 'serve the web console on this port (0: any free port)', parseInteger)
      .option('--console-host <host>', 'address for the console (default 127.0.0.1)')
      .option('--console-write', 'allow actions from the console (each needs the token)')
      .option('--console-token-file <file>', 'file holding the console token (default: $PGFERRY_CONSOLE_TOKEN)')
      .option('--tick-interval <ms>', 'how often the ticker rules are checked', parseInteger)
      .option('--maint-interval <ms>', 'how often maintenance runs', parseInteger)
      .option('--log-format <format>', 'text or json')
      .addHelpText('after', CONFIG_HELP)
      .action(async (flags: DaemonFlags, cmd: Command) => {
        // Loaded here: other commands need neither prom-client nor zod (start-up time).
        const { runDaemon } = await import('./daemon-run.js');
        process.exitCode = await runDaemon(flags, cmd.optsWithGlobals<{ db?: string[] }>().db);
      }),
    [
      'pgferry daemon --config /etc/pgferry/daemon.json',
      'pgferry daemon --db postgres://pgferry@db1/app --db postgres://pgferry@db2/app --metrics-port 9187',
      'pgferry daemon --db postgres://pgferry@db1/app --console-port 9190   # then open http://127.0.0.1:9190/',
    ],
  );
}
