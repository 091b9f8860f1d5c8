/**
 * The worker daemon's reloads (SIGHUP in `pgferry replicate worker`): only subscriptions
 * whose settings changed are restarted, added ones start, removed ones stop, tickers follow
 * the providers, and a metrics endpoint that cannot be served refuses the whole reload.
 * The databases are unreachable: the subscriptions only retry, which is all this needs.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@pgferry/queue/daemon';
import { loadHandlers, parseWorkerConfig, type WorkerConfigInput } from '../src/cli/worker-config.js';
import { WorkerDaemon } from '../src/cli/worker-daemon.js';

const P1 = 'postgres://pgferry@127.0.0.1:1/p1';
const P2 = 'postgres://pgferry@127.0.0.1:1/p2';
const S = 'postgres://pgferry@127.0.0.1:1/s';
const fast = { retryMinMs: 50, retryMaxMs: 100, stopTimeoutMs: 1000, timeouts: { connectMs: 200 } };

const lines: string[] = [];
const log = createLogger('text', { write: (s: string) => void lines.push(s) });
const config = (input: WorkerConfigInput) => parseWorkerConfig(input, '/etc/pgferry/replicate.json');

describe('WorkerDaemon reload', () => {
  let daemon: WorkerDaemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    lines.length = 0;
  });

  it('restarts only the subscriptions whose settings changed; tickers follow the databases', async () => {
    const first = config({
      subscriptions: [
        { subscription: 'a', provider: P1, subscriber: S, ...fast },
        { subscription: 'b', provider: P1, subscriber: S, ...fast },
        { subscription: 'c', provider: P2, subscriber: S, ...fast },
      ],
    });
    daemon = new WorkerDaemon(first, await loadHandlers(first), log);
    await daemon.start();
    const before = new Map(daemon.subscriptions.map((s) => [s.name, s]));
    expect(daemon.tickers.map((t) => t.database).sort()).toEqual(['127.0.0.1:1/p1', '127.0.0.1:1/p2', '127.0.0.1:1/s']);
    const p1Ticker = daemon.tickers.find((t) => t.database === '127.0.0.1:1/p1')!.ticker;

    const second = config({
      subscriptions: [
        { subscription: 'a', provider: P1, subscriber: S, ...fast },
        { subscription: 'b', provider: P1, subscriber: S, ...fast, parallelCopies: 4 },
        { subscription: 'd', provider: P1, subscriber: S, ...fast },
      ],
    });
    await daemon.reload(second, await loadHandlers(second, daemon.handlers));
    const after = new Map(daemon.subscriptions.map((s) => [s.name, s]));
    expect([...after.keys()].sort()).toEqual(['a', 'b', 'd']);
    expect(after.get('a')).toBe(before.get('a')); // unchanged: the same worker goes on
    expect(after.get('b')).not.toBe(before.get('b')); // changed: restarted
    expect(lines.join('')).toContain('config reloaded: 3 subscription(s) (added 1, removed 1, restarted 1)');
    expect(lines.join('')).toContain('[c] removed from the config: stopping');
    expect(daemon.tickers.map((t) => t.database).sort()).toEqual(['127.0.0.1:1/p1', '127.0.0.1:1/s']);
    expect(daemon.tickers.find((t) => t.database === '127.0.0.1:1/p1')!.ticker).toBe(p1Ticker);

    const metrics = await daemon.registry.metrics();
    expect(metrics).toContain('pgferry_replication_config_reloads_total{result="ok"} 1');
    expect(metrics).toMatch(/pgferry_replication_active\{subscription="d"\} 0/);
    expect(metrics).toContain('pgferry_ticker_connected{database="127.0.0.1:1/p1"}');
  });

  it('keeps the running config when the metrics endpoint of the new one cannot be served', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const first = config({ subscriptions: [{ subscription: 'a', provider: P1, subscriber: S, ...fast }], metrics: { port: 0, host: '127.0.0.1' } });
      daemon = new WorkerDaemon(first, await loadHandlers(first), log);
      await daemon.start();
      const served = daemon.metricsPort!;
      expect((await fetch(`http://127.0.0.1:${served}/healthz`)).status).toBe(200);
      const before = daemon.subscriptions[0];

      const second = config({ subscriptions: [{ subscription: 'a', provider: P1, subscriber: S, ...fast, parallelCopies: 3 }], metrics: { port, host: '127.0.0.1' } });
      const err = await daemon.reload(second, await loadHandlers(second, daemon.handlers)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
      daemon.reloadFailed(err as Error);
      expect(lines.join('')).toContain('config reload refused, keeping the running config');
      expect(daemon.subscriptions[0]).toBe(before);
      expect(daemon.metricsPort).toBe(served);
      const text = await (await fetch(`http://127.0.0.1:${served}/metrics`)).text();
      expect(text).toContain('pgferry_replication_config_reloads_total{result="error"} 1');
    } finally {
      taken.close();
    }
  });
});
