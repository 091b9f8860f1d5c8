/**
 * The console's queues section: for each database, getQueueStatus (what `pgferry queue
 * status --json` prints) with the rate of events; dead letters on demand (what
 * `pgferry dead-letter list --json` prints); the queue actions (queue-actions.ts).
 */
import { listDeadLetters } from '../admin.js';
import type { MetricsSource } from '../metrics/queue-metrics.js';
import { getQueueStatus, type QueueStatus } from '../status.js';
import { queueActions } from './queue-actions.js';
import { Rates } from './rates.js';
import { sourceNamed } from './sources.js';
import { ConsoleRequestError, type ConsoleView } from './view.js';

export interface DatabaseQueues {
  database: string;
  /** Why the database could not be read (null: it was). */
  error: string | null;
  queues: (QueueStatus & { eventsPerSecond: number | null })[];
}

function required(params: URLSearchParams, key: string): string {
  const v = params.get(key);
  if (!v) throw new ConsoleRequestError(`missing parameter "${key}"`);
  return v;
}

/** The queues of `sources` (asked again at each refresh: a daemon's list changes on reload). */
export function queueConsoleView(sources: () => MetricsSource[]): ConsoleView {
  const rates = new Rates();
  return {
    name: 'queues',
    async state(): Promise<DatabaseQueues[]> {
      const out = await Promise.all(
        sources().map(async (src): Promise<DatabaseQueues> => {
          try {
            const queues = await getQueueStatus(src.db);
            return {
              database: src.name,
              error: null,
              queues: queues.map((qs) => ({ ...qs, eventsPerSecond: rates.sample(`${src.name}\u0000${qs.queueName}`, qs.eventSeq) })),
            };
          } catch (err) {
            return { database: src.name, error: (err as Error).message, queues: [] };
          }
        }),
      );
      rates.prune();
      return out;
    },
    reads: {
      /** ?database=&queue=&consumer=&limit= */
      'dead-letters': async (p) => {
        const src = sourceNamed(sources, p.get('database'));
        const limit = Math.min(Math.max(Number(p.get('limit') ?? 100) || 100, 1), 1000);
        return listDeadLetters(src.db, required(p, 'queue'), { consumer: p.get('consumer') ?? undefined, limit });
      },
    },
    actions: queueActions(sources),
  };
}
