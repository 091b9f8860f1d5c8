/** The worker's process: config, handlers, signals, start, reload and stop (loaded by `worker`). */
import { EXIT, io } from '@pgferry/queue/cli';
import { ConfigError, createLogger, handleSignals, reloadFromFile } from '@pgferry/queue/daemon';
import type { WorkerFlags } from './worker.js';
import { loadHandlers, loadWorkerConfig, type LoadedHandlers, type WorkerConfig, type WorkerOverrides } from './worker-config.js';
import { WorkerDaemon } from './worker-daemon.js';

export async function runWorker(flags: WorkerFlags): Promise<number> {
  const overrides: WorkerOverrides = {
    subscription:
      flags.node !== undefined || flags.provider !== undefined || flags.subscriber !== undefined
        ? { subscription: flags.node, provider: flags.provider, subscriber: flags.subscriber }
        : undefined,
    parallelCopies: flags.parallelCopies,
    pollIntervalMs: flags.pollMs,
    retryMinMs: flags.retryMs,
    ticker: flags.ticker,
    metricsPort: flags.metricsPort,
    metricsHost: flags.metricsHost,
    consolePort: flags.consolePort,
    consoleHost: flags.consoleHost,
    consoleWrite: flags.consoleWrite,
    consoleTokenFile: flags.consoleTokenFile,
    logFormat: flags.logFormat,
  };
  if (!flags.config && !overrides.subscription) {
    io.err.write('pgferry: give --config FILE, or --provider, --subscriber and --node (see pgferry replicate worker --help)\n');
    return EXIT.USAGE;
  }
  let config: WorkerConfig;
  let handlers: LoadedHandlers;
  try {
    config = loadWorkerConfig(flags.config, overrides);
    handlers = await loadHandlers(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err.write(`pgferry: ${err.message}\n`);
    return EXIT.USAGE;
  }
  const log = createLogger(config.logFormat);
  const daemon = new WorkerDaemon(config, handlers, log);
  const signals = handleSignals(
    log,
    reloadFromFile(
      log,
      flags.config,
      async () => {
        const next = loadWorkerConfig(flags.config, overrides);
        await daemon.reload(next, await loadHandlers(next, daemon.handlers));
      },
      (err) => daemon.reloadFailed(err),
    ),
  );
  try {
    await daemon.start();
  } catch (err) {
    io.err.write(`pgferry: cannot start: ${(err as Error).message}\n`);
    await daemon.stop();
    return EXIT.FAILED;
  }
  const names = config.subscriptions.map((s) => s.subscription).join(', ');
  log.info(`pgferry replicate worker started (pid ${process.pid}): ${names}`);

  signals.started();
  await signals.untilStopped();
  await daemon.stop();
  log.info('pgferry replicate worker stopped');
  return EXIT.OK;
}
