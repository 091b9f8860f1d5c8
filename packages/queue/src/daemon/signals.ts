/**
 * A daemon's signals: SIGTERM/SIGINT stop it gracefully (a second one exits at once), SIGHUP
 * reloads its configuration (one reload at a time). Shared by `pgferry daemon` and
 * `pgferry replicate worker`.
 */
import type { Logger } from './log.js';

/** The handlers installed by {@link handleSignals}. */
export interface DaemonSignals {
  /** The daemon has started: reloads asked for before now run from here on. */
  started(): void;
  /** Resolve on the first SIGTERM or SIGINT, once a reload in progress has finished. */
  untilStopped(): Promise<void>;
}

/**
 * Install the handlers at once, before the daemon starts, so that no signal sent after the
 * process is up finds the default action (SIGHUP's would kill it). Each SIGHUP runs `reload`
 * after the previous one and not before `started()` (its errors are the caller's to log).
 */
export function handleSignals(log: Logger, reload: () => Promise<void>): DaemonSignals {
  let markStarted!: () => void;
  let reloading = new Promise<void>((resolve) => (markStarted = resolve));
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
  return {
    started: markStarted,
    async untilStopped() {
      const signal = await stopped;
      log.info(`${signal}: stopping`);
      process.off('SIGHUP', onHup);
      await reloading;
    },
  };
}

/**
 * A daemon's SIGHUP reload: read `file` again and `apply` it; a failure (a bad file) goes to
 * `failed`, and the running configuration stays. Without a file there is nothing to reload.
 */
export function reloadFromFile(log: Logger, file: string | undefined, apply: () => Promise<void>, failed: (err: Error) => void): () => Promise<void> {
  return async () => {
    if (!file) return log.warn('SIGHUP: no config file to reload (started without --config)');
    log.info(`SIGHUP: reloading ${file}`);
    try {
      await apply();
    } catch (err) {
      failed(err as Error);
    }
  };
}
