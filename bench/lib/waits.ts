/**
 * Where the time goes across processes: samples what each session of a database is doing
 * (pg_stat_activity state and wait event) every few milliseconds. A session that is
 * "idle in transaction / ClientRead" is waiting for its client (Node); "active / -" is on
 * CPU in the server; anything else is I/O, locks or WAL.
 */
import pg from 'pg';

export class WaitSampler {
  private counts = new Map<string, number>();
  private samples = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private clients: pg.Client[] = [];

  /** `statements`: label an active session's sample with the start of its statement (which statement is running). */
  constructor(
    private readonly targets: { label: string; url: string }[],
    private readonly intervalMs = 10,
    private readonly statements = false,
  ) {}

  async start(): Promise<void> {
    for (const t of this.targets) {
      const c = new pg.Client({ connectionString: t.url });
      c.on('error', () => undefined);
      await c.connect();
      this.clients.push(c);
    }
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        this.samples++;
        await Promise.all(
          this.clients.map(async (c, i) => {
            const { rows } = await c.query<{ s: string }>(
              `SELECT coalesce(state, '?') || ' / ' || coalesce(wait_event_type || ':' || wait_event, 'CPU')
                      || CASE WHEN $1 AND state = 'active' THEN ' [' || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 32) || ']' ELSE '' END AS s
                 FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND state <> 'idle'`,
              [this.statements],
            );
            for (const r of rows) {
              const k = `${this.targets[i]!.label}: ${r.s}`;
              this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
            }
          }),
        );
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  /** Stop; returns the share of samples (0..1) in which some session was in each state. */
  async stop(): Promise<Record<string, number>> {
    this.running = false;
    await this.loop;
    for (const c of this.clients) await c.end().catch(() => undefined);
    const out: Record<string, number> = {};
    for (const [k, v] of [...this.counts].sort((a, b) => b[1] - a[1])) out[k] = v / Math.max(1, this.samples);
    return out;
  }

  static format(shares: Record<string, number>, top = 6): string {
    return Object.entries(shares)
      .slice(0, top)
      .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
      .join(', ');
  }
}
