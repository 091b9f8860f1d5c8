/**
 * apply: the replicator applying 1,000,000 captured row changes (insert/update/delete mix)
 * to a subscriber on a second server, against COPY of the same rows into the subscriber
 * table. Needs @pgferry/replicator's apply path; until it has landed (committed, with a
 * public API this package depends on) the case reports "not available yet" rather than a
 * figure.
 */
import type { BenchCase, BenchContext, ResultRow } from '../lib/runner.js';
import { notAvailable } from '../lib/runner.js';

export const apply: BenchCase = {
  name: 'apply',
  summary: 'replicator applying 1,000,000 captured changes to a second server vs COPY of the same rows',
  async run(_ctx: BenchContext): Promise<ResultRow[]> {
    return [notAvailable('apply', '≥ 0.30×', 'not available yet (needs the replicator: @pgferry/replicator apply has not landed)')];
  },
};
