/** The console's actions, who made them and when: kept in memory, shown on the page, logged. */

export interface ActionEntry {
  id: number;
  at: Date;
  /** The name the operator gave (the token is shared: this is what they say, not proof). */
  by: string;
  /** The address the request came from. */
  from: string;
  view: string;
  action: string;
  args: unknown;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class ActionLog {
  private readonly entries: ActionEntry[] = [];
  private next = 1;

  constructor(
    /** Every entry as a log line (the daemon's logger). */
    private readonly write: (level: 'info' | 'warn', message: string) => void = () => undefined,
    private readonly keep = 200,
  ) {}

  add(entry: Omit<ActionEntry, 'id' | 'at'>): ActionEntry {
    const e: ActionEntry = { id: this.next++, at: new Date(), ...entry };
    this.entries.push(e);
    if (this.entries.length > this.keep) this.entries.shift();
    const what = `console action ${e.view}/${e.action} ${JSON.stringify(e.args)} by ${JSON.stringify(e.by)} from ${e.from}`;
    if (e.ok) this.write('info', `${what}: ${JSON.stringify(e.result)}`);
    else this.write('warn', `${what} failed: ${e.error}`);
    return e;
  }

  /** Newest first. */
  list(): ActionEntry[] {
    return [...this.entries].reverse();
  }
}
