/** Retry waits: doubling from a first wait up to a longest one, with jitter. */

export interface BackoffOptions {
  /** First wait (ms). */
  minMs: number;
  /** Longest wait (ms). */
  maxMs: number;
  /**
   * Part of each wait drawn at random (0..1, default 0.2): processes that failed together
   * (a server restart) do not all retry at the same instant.
   */
  jitter?: number;
}

export class Backoff {
  private base: number;
  private readonly jitter: number;
  /** Waits handed out since the last reset. */
  attempts = 0;

  constructor(private readonly options: BackoffOptions) {
    this.base = options.minMs;
    this.jitter = Math.min(Math.max(options.jitter ?? 0.2, 0), 1);
  }

  /** The next wait (ms); each call doubles the following one, up to maxMs. */
  next(): number {
    const ms = this.base;
    this.base = Math.min(this.base * 2, this.options.maxMs);
    this.attempts++;
    return Math.round(ms * (1 - this.jitter * Math.random()));
  }

  /** After a success: the next wait is the first one again. */
  reset(): void {
    this.base = this.options.minMs;
    this.attempts = 0;
  }
}
