/** daemon: ticker + maintenance for one or many databases, with a metrics endpoint. */
import { Command } from 'commander';
import { ConfigError, loadDaemonConfig, type DaemonOverrides } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import { createLogger } from '../daemon/log.js';
import { resolveTargets } from './context.js';
import { examples, io, parseInteger, EXIT } from './options.js';

interface DaemonFlags {
  config?: string;
  metricsPort?: number;
  metricsHost?: string;
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
    "tickIntervalMs": 100, "maintIntervalMs": 2000, "standbyIntervalMs": 1000,
    "logFormat": "text"
  }
Without a config file and --db, PGFERRY_DB or the PG* variables name the database.

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
      .option('--tick-interval <ms>', 'how often the ticker rules are checked', parseInteger)
      .option('--maint-interval <ms>', 'how often maintenance runs', parseInteger)
      .option('--log-format <format>', 'text or json')
      .addHelpText('after', CONFIG_HELP)
      .action(async (flags: DaemonFlags, cmd: Command) => {
        process.exitCode = await runDaemon(flags, cmd.optsWithGlobals<{ db?: string[] }>().db);
      }),
    [
      'pgferry daemon --config /etc/pgferry/daemon.json',
      'pgferry daemon --db postgres://pgferry@db1/app --db postgres://pgferry@db2/app --metrics-port 9187',
    ],
  );
}

async function runDaemon(flags: DaemonFlags, dbs: string[] | undefined): Promise<number> {
  const overrides = (): DaemonOverrides => {
    // No file and no --db: PGFERRY_DB or the PG* variables.
    const databases = dbs?.length
      ? dbs
      : flags.config
        ? undefined
        : resolveTargets(undefined).map((t) => t.config.connectionString ?? pgEnvUrl());
    return {
      databases,
      metricsPort: flags.metricsPort,
      metricsHost: flags.metricsHost,
      tickIntervalMs: flags.tickInterval,
      maintIntervalMs: flags.maintInterval,
      logFormat: flags.logFormat,
    };
  };
  let config;
  try {
    config = loadDaemonConfig(flags.config, overrides());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err.write(`pgferry: ${err.message}\n`);
    return EXIT.USAGE;
  }
  const log = createLogger(config.logFormat);
  const daemon = new Daemon(config, log);
  try {
    await daemon.start();
  } catch (err) {
    io.err.write(`pgferry: cannot start: ${(err as Error).message}\n`);
    await daemon.stop();
    return EXIT.FAILED;
  }
  log.info(`pgferry daemon started (pid ${process.pid})`);

  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      if (!flags.config) return log.warn('SIGHUP: no config file to reload (started without --config)');
      log.info(`SIGHUP: reloading ${flags.config}`);
      try {
        await daemon.reload(loadDaemonConfig(flags.config, overrides()));
      } catch (err) {
        daemon.reloadFailed(err as Error);
      }
    });
  };
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onStop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      log.info(`${signal}: stopping`);
      resolve();
    };
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', () => onStop('SIGTERM'));
    process.on('SIGINT', () => onStop('SIGINT'));
  });
  process.off('SIGHUP', onHup);
  await reloading;
  await daemon.stop();
  log.info('pgferry daemon stopped');
  return EXIT.OK;
}

/** A URL from libpq's PG* variables, for the daemon's database list. */
function pgEnvUrl(env: NodeJS.ProcessEnv = process.env): string {
  const user = env.PGUSER ?? env.USER ?? 'postgres';
  const auth = encodeURIComponent(user) + (env.PGPASSWORD ? `:${encodeURIComponent(env.PGPASSWORD)}` : '');
  const host = env.PGHOST ?? 'localhost';
  const db = env.PGDATABASE ?? user;
  if (host.startsWith('/')) return `postgres://${auth}@/${encodeURIComponent(db)}?host=${encodeURIComponent(host)}&port=${env.PGPORT ?? '5432'}`;
  return `postgres://${auth}@${host}:${env.PGPORT ?? '5432'}/${encodeURIComponent(db)}`;
}
