/** worker: the replication daemon (copies, catch-up, main stream, tickers, metrics). */
import { Command, InvalidArgumentError } from 'commander';
import { parseInteger } from '@pgferry/queue/cli';
import { examples } from './options.js';

export interface WorkerFlags {
  config?: string;
  provider?: string;
  subscriber?: string;
  node?: string;
  parallelCopies?: number;
  pollMs?: number;
  retryMs?: number;
  ticker: boolean;
  metricsPort?: number;
  metricsHost?: string;
  consolePort?: number;
  consoleHost?: string;
  consoleWrite?: boolean;
  consoleTokenFile?: string;
  logFormat?: string;
}

function positiveInteger(value: string): number {
  const n = parseInteger(value);
  if (n <= 0) throw new InvalidArgumentError('expected a whole number > 0');
  return n;
}

const CONFIG_HELP = `
Config file (JSON, checked at start and on SIGHUP; flags win over it):
  {
    "subscriptions": [
      { "subscription": "leaf1", "provider": "postgres://...", "subscriber": "postgres://...",
        "parallelCopies": 2, "pollIntervalMs": 200, "fetchSize": 2000, "maxKeysPerFlush": 20000,
        "retryMinMs": 500, "retryMaxMs": 30000, "stopTimeoutMs": 10000,
        "timeouts": { "connectMs": 15000, "statementMs": 300000, "queryMs": 330000,
                      "idleInTransactionMs": 600000, "keepAliveMs": 10000, "copyStallMs": 600000 } }
    ],
    "handlers": { "audit": "./handlers/audit.js" },
    "ticker": true, "tickIntervalMs": 100,
    "metrics": { "port": 9188, "host": "0.0.0.0" },
    "console": { "port": 9191, "host": "127.0.0.1", "write": false, "tokenFile": "/etc/pgferry/console.token" },
    "logFormat": "text"
  }
Only "subscriptions" (each with subscription and subscriber) is required; a subscription's
"provider" is needed only for a node that records no provider location (the worker reads it
from the node, and follows change-provider and switchover).
"handlers" names user handler modules (paths relative to the config file): each exports
  export default { description, create(table, args) { return { async apply(ctx, changes) { ... } } } }
and tables use them with \`pgferry replicate add-table --handler NAME --config FILE\`.
A handler's error stops the stream (nothing of the batch lands), names the handler, table,
key and event, and is retried with backoff; fix the module and send SIGHUP.

The console (a web page: the worker's providers' queues, each subscription's tables with
copy progress and errors, the cascade with the lag of each hop) binds 127.0.0.1 unless told
otherwise and is read-only; with --console-write, the queue actions and resync of a table,
each behind the token (--console-token-file, or PGFERRY_CONSOLE_TOKEN), logged with who/when.

Signals: SIGTERM/SIGINT stop gracefully (the batch being applied is finished or rolled
back, copies are rolled back; a second signal exits at once). SIGHUP reloads the config
file: subscriptions whose settings changed are restarted (all of them when a handler module
changed), the others go on; a bad file is refused, the running config kept, and the log
says why. One worker serves a subscription at a time; another one stands by and takes over
when it goes.`;

export function workerCommand(replicate: Command): void {
  examples(
    replicate
      .command('worker')
      .description('run the replication: copies, catch-up and main stream of each subscription, a ticker on each provider, Prometheus metrics')
      .option('-c, --config <file>', 'JSON config file (see below)')
      .option('--provider <url>', 'provider database URL (one subscription, instead of the config\'s)')
      .option('--subscriber <url>', 'subscriber database URL (one subscription)')
      .option('--node <name>', 'leaf node: the subscription (one subscription)')
      .option('--parallel-copies <n>', 'tables copied at once, per subscription (default 2)', positiveInteger)
      .option('--poll-ms <ms>', 'wait between polls when there is no batch (default 200)', positiveInteger)
      .option('--retry-ms <ms>', 'first wait after an error, doubled up to retryMaxMs (default 500)', positiveInteger)
      .option('--no-ticker', 'do not run a ticker on the providers (another process ticks)')
      .option('--metrics-port <port>', 'serve Prometheus metrics on this port (0: any free port)', parseInteger)
      .option('--metrics-host <host>', 'address for the metrics endpoint (default 0.0.0.0)')
      .option('--console-port <port>', 'serve the web console on this port (0: any free port)', parseInteger)
      .option('--console-host <host>', 'address for the console (default 127.0.0.1)')
      .option('--console-write', 'allow actions from the console (each needs the token)')
      .option('--console-token-file <file>', 'file holding the console token (default: $PGFERRY_CONSOLE_TOKEN)')
      .option('--log-format <format>', 'text or json')
      .addHelpText('after', CONFIG_HELP)
      .action(async (flags: WorkerFlags) => {
        // Loaded here: other commands need neither prom-client nor zod (start-up time).
        const { runWorker } = await import('./worker-run.js');
        process.exitCode = await runWorker(flags);
      }),
    [
      'worker --config /etc/pgferry/replicate.json',
      'worker --provider $P --subscriber $S --node leaf1 --metrics-port 9188',
      'worker --config /etc/pgferry/replicate.json --console-port 9191   # then open http://127.0.0.1:9191/',
    ],
  );
}
