/**
 * A daemon's signal handlers are in place before it starts: a SIGHUP that arrives while it
 * starts (a config management tool reloading every service at once) neither kills the process
 * (SIGHUP's default action) nor is lost, and runs once the daemon has started.
 */
import { describe, expect, it } from 'vitest';
import { handleSignals } from '../src/daemon/signals.js';
import { createLogger } from '../src/daemon/log.js';

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('daemon signals', () => {
  it('holds a SIGHUP sent before the start until started(), runs reloads one at a time, stops on SIGTERM', async () => {
    const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
    const order: string[] = [];
    let running = 0;
    const signals = handleSignals(createLogger('json', { write: () => undefined }), async () => {
      running++;
      expect(running).toBe(1);
      order.push('reload');
      await tick();
      running--;
    });
    process.kill(process.pid, 'SIGHUP');
    await tick();
    expect(order).toEqual([]);
    order.push('started');
    signals.started();
    process.kill(process.pid, 'SIGHUP');
    await tick();
    await tick();
    await tick();
    expect(order).toEqual(['started', 'reload', 'reload']);

    const stopped = signals.untilStopped();
    process.kill(process.pid, 'SIGHUP');
    process.kill(process.pid, 'SIGTERM');
    await stopped;
    expect(order).toEqual(['started', 'reload', 'reload', 'reload']);
    expect(process.listenerCount('SIGHUP')).toBe(0);
    // A second SIGTERM would exit at once: the test process takes its own handlers back.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
    }
  });
});
