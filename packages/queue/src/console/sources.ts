/** The databases a console reads queues from, found by name. */
import type { MetricsSource } from '../metrics/queue-metrics.js';
import { ConsoleRequestError } from './view.js';

/** Find a source by its name (the `database` of a request). */
export function sourceNamed(sources: () => MetricsSource[], name: string | null): MetricsSource {
  const all = sources();
  const s = name === null && all.length === 1 ? all[0] : all.find((x) => x.name === name);
  if (!s) throw new ConsoleRequestError(`no database "${name ?? ''}" in this console`, 404);
  return s;
}
