/**
 * A daemon's console, moved as its configuration changes (reload), like its metrics
 * endpoint: the new one listens before the old one closes. The action log stays.
 */
import { createHash } from 'node:crypto';
import { ActionLog } from './action-log.js';
import type { ConsoleConfig } from './config.js';
import { serveConsole, type ConsoleServer } from './server.js';
import type { ConsoleView } from './view.js';

export class ConsoleEndpoint {
  private server: ConsoleServer | undefined;
  private key: string | undefined;
  readonly actions: ActionLog;

  constructor(
    private readonly title: string,
    private readonly views: ConsoleView[],
    log: (level: 'info' | 'warn', message: string) => void,
  ) {
    this.actions = new ActionLog(log);
  }

  get port(): number | undefined {
    return this.server?.port;
  }

  /** Serve on `config` (none: stop serving); true when it moved (or its settings changed). */
  async apply(config: ConsoleConfig | undefined): Promise<boolean> {
    // The token only as a digest: the key is compared, never shown.
    const key = config
      ? JSON.stringify([config.host, config.port, config.write, config.token && createHash('sha256').update(config.token).digest('hex')])
      : undefined;
    if (key === this.key) return false;
    const next = config
      ? await serveConsole({ ...config, title: this.title, views: this.views, actions: this.actions })
      : undefined;
    await this.server?.close();
    this.server = next;
    this.key = key;
    return next !== undefined;
  }

  /** Stop serving and release the views (final). */
  async close(): Promise<void> {
    await this.apply(undefined);
    await Promise.all(this.views.map((v) => v.close?.()));
  }
}
