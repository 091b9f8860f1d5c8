/** The daemon's process: config, signals, start and stop (loaded by the `daemon` command). */
import { ConfigError, loadDaemonConfig, type DaemonOverrides } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import { createLogger } from '../daemon/log.js';
import { handleSignals, reloadFromFile } from '../daemon/signals.js';
import { resolveTargets } from './context.js';
import type { DaemonFlags } from './daemon.js';
import { io, EXIT } from './options.js';

export async function runDaemon(flags: DaemonFlags, dbs: string[] | undefined): Promise<number> {
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
      consolePort: flags.consolePort,
      consoleHost: flags.consoleHost,
      consoleWrite: flags.consoleWrite,
      consoleTokenFile: flags.consoleTokenFile,
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
  const signals = handleSignals(
    log,
    reloadFromFile(log, flags.config, () => daemon.reload(loadDaemonConfig(flags.config, overrides())), (err) => daemon.reloadFailed(err)),
  );
  try {
    await daemon.start();
  } catch (err) {
    io.err.write(`pgferry: cannot start: ${(err as Error).message}\n`);
    await daemon.stop();
    return EXIT.FAILED;
  }
  log.info(`pgferry daemon started (pid ${process.pid})`);
  signals.started();
  await signals.untilStopped();
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
