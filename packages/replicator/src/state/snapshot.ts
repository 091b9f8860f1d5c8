/**
 * pg_snapshot in TypeScript: the catch-up after a copy skips events whose txid is visible
 * in the copy's snapshot (their effects are in the copied rows).
 */
import { InvalidArgumentError } from '@pgferry/queue';

export interface Snapshot {
  xmin: bigint;
  xmax: bigint;
  xip: Set<bigint>;
}

/** Parse pg_snapshot's text form, 'xmin:xmax:xip1,xip2'. */
export function parseSnapshot(text: string): Snapshot {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`not a pg_snapshot: ${text}`);
  return {
    xmin: BigInt(m[1]!),
    xmax: BigInt(m[2]!),
    xip: new Set(m[3] ? m[3].split(',').map((x) => BigInt(x)) : []),
  };
}

/** pg_visible_in_snapshot for a committed txid. */
export function visibleInSnapshot(txid: string | bigint, s: Snapshot): boolean {
  const x = typeof txid === 'bigint' ? txid : BigInt(txid);
  if (x < s.xmin) return true;
  if (x >= s.xmax) return false;
  return !s.xip.has(x);
}

/**
 * Every transaction `earlier` sees as committed, `later` sees too: `later` was taken after
 * `earlier`. A catch-up can hand a table over at a tick only when the tick's snapshot
 * covers the copy's; before that, later batches may still hold changes the copy has.
 */
export function snapshotCovers(later: Snapshot, earlier: Snapshot): boolean {
  if (later.xmax < earlier.xmax) return false;
  for (const x of later.xip) {
    if (x < earlier.xmax && !earlier.xip.has(x)) return false;
  }
  return true;
}
