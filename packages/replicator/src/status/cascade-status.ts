/**
 * Status of a whole cascade, walked down from one node (the root, or a branch) through the
 * locations its subscribers recorded: every node with its type, its provider, its position
 * and the lag of its hop (the oldest event it has yet to apply, from its provider's queue),
 * its last error, and the takeovers it took part in. A node that cannot be reached is
 * listed with why.
 */
import type pg from 'pg';
import { getConsumerInfo, type Queryable } from '@pgferry/queue';
import { listNodes, providerNode, type NodeType } from '../admin/nodes.js';
import { sql } from '../sql.js';

export interface CascadeNodeStatus {
  node: string;
  type: NodeType | null;
  provider: string | null;
  /** Depth in the tree walked (0: where the walk started). */
  depth: number;
  appliedTick: string | null;
  /** The hop's lag: age of the oldest event the node has yet to apply (0: caught up). */
  lagSeconds: number | null;
  pendingEvents: number | null;
  lastError: string | null;
  /** Why the node could not be read (null: it was). */
  unreachable: string | null;
  takeovers: { oldRoot: string; newRoot: string; tickId: string; at: Date }[];
}

/** Walk the cascade down from `start`; `open` gives a pool on a node's recorded location. */
export async function cascadeStatus(start: Queryable, open: (location: string) => Promise<pg.Pool>): Promise<CascadeNodeStatus[]> {
  const out: CascadeNodeStatus[] = [];
  const top = await providerNode(start);
  out.push({ ...(await nodeDetails(start, top.name)), node: top.name, type: top.type, provider: top.providerNode, depth: 0, lagSeconds: null, pendingEvents: null, unreachable: null });
  await walk(start, top.name, top.queue, 1);
  return out;

  async function walk(db: Queryable, name: string, queue: string, depth: number): Promise<void> {
    const below = (await listNodes(db)).filter((n) => !n.isLocal && n.providerNode === name);
    const consumers = new Map((await getConsumerInfo(db, queue)).map((c) => [c.consumerName, c]));
    for (const n of below) {
      const c = consumers.get(n.name);
      const entry: CascadeNodeStatus = {
        node: n.name,
        type: n.type,
        provider: name,
        depth,
        appliedTick: c?.lastTick ?? null,
        lagSeconds: c?.pendingAgeSeconds ?? null,
        pendingEvents: c?.pendingEvents ?? null,
        lastError: c ? null : `no consumer on ${name}'s queue`,
        unreachable: n.location ? null : 'no location recorded',
        takeovers: [],
      };
      out.push(entry);
      if (!n.location) continue;
      try {
        const sub = await open(n.location);
        Object.assign(entry, await nodeDetails(sub, n.name));
        if (n.type === 'branch') await walk(sub, n.name, queue, depth + 1);
      } catch (err) {
        entry.unreachable = (err as Error).message;
      }
    }
  }
}

async function nodeDetails(db: Queryable, name: string): Promise<Pick<CascadeNodeStatus, 'appliedTick' | 'lastError' | 'takeovers'>> {
  const at = (await db.query<{ at_tick_id: string | null }>(sql('applied_tick'), [name])).rows[0];
  const err = (await db.query<{ rs_last_error: string | null }>(sql('main_error'), [name])).rows[0];
  const takeovers = (await db.query<{ tk_old_root: string; tk_new_root: string; tk_tick_id: string; tk_time: Date }>(sql('takeovers'))).rows;
  return {
    appliedTick: at?.at_tick_id ?? null,
    lastError: err?.rs_last_error ?? null,
    takeovers: takeovers.map((t) => ({ oldRoot: t.tk_old_root, newRoot: t.tk_new_root, tickId: t.tk_tick_id, at: t.tk_time })),
  };
}

/** The cascade as a tree, a line per node. */
export function formatCascade(nodes: CascadeNodeStatus[]): string {
  return nodes
    .map((n) => {
      let line = `${'  '.repeat(n.depth)}${n.depth ? '└─ ' : ''}${n.node} (${n.type ?? '?'})`;
      if (n.appliedTick !== null) line += `  tick ${n.appliedTick}`;
      if (n.lagSeconds !== null) line += `  lag ${n.lagSeconds.toFixed(1)} s, ~${n.pendingEvents} pending`;
      if (n.lastError) line += `  ERROR ${n.lastError}`;
      if (n.unreachable) line += `  UNREACHABLE ${n.unreachable}`;
      for (const t of n.takeovers) line += `\n${'  '.repeat(n.depth + 1)}took over from ${t.oldRoot} at tick ${t.tickId} (${t.at.toISOString()})`;
      return line;
    })
    .join('\n');
}
