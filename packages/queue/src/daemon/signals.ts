/**
 * A daemon's signals: SIGTERM/SIGINT stop it gracefully (a second one exits at once), SIGHUP
 * reloads its configuration (one reload at a time). Shared by `pgferry daemon` and
 * `pgferry replicate worker`.
 */
import type { Logger } from './log.js';

/**
 * Resolve on the first SIGTERM or SIGINT, once a reload in progress has finished. Each
 * SIGHUP runs `reload` after the previous one (its errors are the caller's to log).
 */
export async function untilStopped(log: Logger, reload: () => Promise<void>): Promise<void> {
  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(reload).catch((err: unknown) => log.error(`SIGHUP: ${(err as Error).message}`));
  };
  const stopped = new Promise<string>((resolve) => {
    let stopping = false;
    const onStop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      resolve(signal);
    };
    process.on('SIGTERM', () => onStop('SIGTERM'));
    process.on('SIGINT', () => onStop('SIGINT'));
  });
  process.on('SIGHUP', onHup);
  const signal = await stopped;
  log.info(`${signal}: stopping`);
  process.off('SIGHUP', onHup);
  await reloading;
}
