/** The HTTP endpoint Prometheus scrapes: GET /metrics (and /healthz). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry with the process's own health figures (CPU, memory, event loop lag, handles). */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'pgferry_' });
  return registry;
}

/**
 * Where metrics are served by default: every interface, so that a Prometheus on another
 * host can scrape them (as node_exporter and postgres_exporter do). The figures hold no
 * secrets (database labels are host:port/database, never credentials); bind 127.0.0.1
 * (`--metrics-host`, `metrics.host`) where only local scrapes should reach them.
 */
export const DEFAULT_METRICS_HOST = '0.0.0.0';

export interface MetricsServer {
  /** The port listened on (useful with port 0). */
  port: number;
  server: Server;
  close(): Promise<void>;
}

export interface ServeMetricsOptions {
  /** Port to listen on (0: any free port). */
  port: number;
  /** Address to bind. Default DEFAULT_METRICS_HOST (0.0.0.0). */
  host?: string;
  registry: Registry;
}

export function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const { registry } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      registry
        .metrics()
        .then((body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body))
        .catch((err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`));
    } else if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('see /metrics\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? DEFAULT_METRICS_HOST, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        server,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * A daemon's metrics endpoint, moved as its configuration changes (reload): the new one
 * listens before the old one closes, so a port that cannot be bound leaves the old serving.
 */
export class MetricsEndpoint {
  private server: MetricsServer | undefined;
  private key: string | undefined;

  constructor(private readonly registry: Registry) {}

  /** The port listened on, if any. */
  get port(): number | undefined {
    return this.server?.port;
  }

  /** Serve on `config` (none: stop serving); true when it moved to a new address. */
  async apply(config: { host: string; port: number } | undefined): Promise<boolean> {
    const key = config ? `${config.host}:${config.port}` : undefined;
    if (key === this.key) return false;
    const next = config ? await serveMetrics({ port: config.port, host: config.host, registry: this.registry }) : undefined;
    await this.server?.close();
    this.server = next;
    this.key = key;
    return next !== undefined;
  }

  async close(): Promise<void> {
    await this.apply(undefined);
  }
}
