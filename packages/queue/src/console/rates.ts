/** Events per second from a counter sampled at each refresh (the queues' event_seq). */

/** Samples older than this are dropped: the rate is over the last few seconds. */
const WINDOW_MS = 10_000;

export class Rates {
  private readonly samples = new Map<string, { at: number; value: number }[]>();

  /** Record `value` for `key` now; the rate over the window (null until two samples). */
  sample(key: string, value: number, now = Date.now()): number | null {
    const list = (this.samples.get(key) ?? []).filter((s) => now - s.at <= WINDOW_MS && s.value <= value);
    list.push({ at: now, value });
    this.samples.set(key, list);
    const first = list[0]!;
    const secs = (now - first.at) / 1000;
    return secs >= 0.5 ? (value - first.value) / secs : null;
  }

  /** Forget keys not sampled in the last window (dropped queues). */
  prune(now = Date.now()): void {
    for (const [k, list] of this.samples) if (now - list[list.length - 1]!.at > WINDOW_MS) this.samples.delete(k);
  }
}
