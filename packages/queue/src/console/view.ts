/**
 * What the console shows and does, as sections plugged into its server: the queue package
 * brings the queues (queue-view.ts), the replicator brings replication through the same
 * interface (data flows queue <- replicator; the server knows neither).
 */

/** A change an operator may make (only with --console-write and the token). */
export interface ConsoleAction {
  /** Checks and runs it; returns a summary for the log (thrown errors are shown as such). */
  run(args: unknown): Promise<unknown>;
}

export interface ConsoleView {
  /** The key of its section in /api/state, and of its reads and actions in the URLs. */
  readonly name: string;
  /** The section's state, read at each refresh (the same functions `status --json` uses). */
  state(): Promise<unknown>;
  /** On-demand reads (GET /api/read/<view>/<name>?...), read-only. */
  readonly reads?: Readonly<Record<string, (params: URLSearchParams) => Promise<unknown>>>;
  /** Changes (POST /api/action/<view>/<name>, JSON body). */
  readonly actions?: Readonly<Record<string, ConsoleAction>>;
  /** Release what the view opened (pools on other nodes). */
  close?(): Promise<void>;
}

/** A request the console refuses with a message (400 unless told). */
export class ConsoleRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ConsoleRequestError';
  }
}
