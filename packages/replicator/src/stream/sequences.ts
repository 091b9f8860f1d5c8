/**
 * Sequences forward: a subscriber's sequences are set to the provider's last values, never
 * backwards. The main stream does it in every batch's transaction, after the batch's tick:
 * every value used by an event of the batch was drawn before that tick, so the values read
 * then are at least those, and the subscriber is never behind what it has applied. setval
 * is not transactional: a batch rolled back leaves the sequences ahead, never behind.
 * Switchover and add-sequence use the same step.
 */
import createDebug from 'debug';
import type { Queryable } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
import { sql } from '../sql.js';
import { toSubscribedSequence, type SubscribedSequence, type SubscriberSequenceRow } from '../state/subscribed-sequence.js';

const debug = createDebug('pgferry:replicator:sequences');

export interface SequenceValue {
  name: string;
  /** Null: not used yet. */
  lastValue: string | null;
  increment: string;
  startValue: string;
}

/** The subscription's sequences. */
export async function listSequences(subscriber: Queryable, subscription: string): Promise<SubscribedSequence[]> {
  const { rows } = await subscriber.query<SubscriberSequenceRow>(sql('subscriber_sequences'), [subscription]);
  return rows.map(toSubscribedSequence);
}

/** The last values of those of sequences `names` (canonical names) that exist and this role can read, in one statement. */
export async function readSequenceValues(db: Queryable, names: string[]): Promise<Map<string, SequenceValue & { readable: boolean }>> {
  if (!names.length) return new Map();
  const { rows } = await db.query<{ name: string; readable: boolean; last_value: string | null; increment: string; start_value: string }>(
    sql('sequence_values'),
    [names],
  );
  return new Map(rows.map((r) => [r.name, { name: r.name, readable: r.readable, lastValue: r.last_value, increment: r.increment, startValue: r.start_value }]));
}

/**
 * The last values of sequences `names`; a sequence that does not exist, or that this role
 * cannot read, is an error naming it (`side` says where).
 */
export async function sequenceValues(db: Queryable, names: string[], side: string): Promise<Map<string, SequenceValue>> {
  const found = await readSequenceValues(db, names);
  for (const name of names) {
    const r = found.get(name);
    if (!r) {
      throw new ReplicationStateError(`sequence ${name} does not exist on the ${side}`, {
        hint: 'create it again, or take it out of the subscription (remove-sequence)',
      });
    }
    if (!r.readable) {
      throw new ReplicationStateError(`sequence ${name} on the ${side} cannot be read by this role`, { hint: `GRANT SELECT ON SEQUENCE ${name} to it` });
    }
  }
  return found;
}

/**
 * Set the subscription's sequences (all of them, or `only`) on `subscriber` forward to the
 * provider's last values: one statement on each side. Returns how many moved.
 */
export async function forwardSequences(provider: Queryable, subscriber: Queryable, subscription: string, only?: SubscribedSequence[]): Promise<number> {
  const seqs = only ?? (await listSequences(subscriber, subscription));
  if (!seqs.length) return 0;
  const values = await sequenceValues(provider, seqs.map((s) => s.source), 'provider');
  const sources = seqs.map((s) => s.source);
  const { rows } = await subscriber.query<{ moved: number }>(sql('sequences_forward'), [subscription, sources, sources.map((s) => values.get(s)!.lastValue)]);
  const moved = rows[0]?.moved ?? 0;
  if (moved) debug('%s: %d sequence(s) set forward', subscription, moved);
  return moved;
}

/**
 * Move each of the subscription's sequences on `db` `margin` increments past its value
 * (takeover: values the dead root drew after the last replicated batch are not drawn again
 * if it drew fewer than `margin` of them). Returns the sequences and their new last values.
 */
export async function advanceSequences(db: Queryable, subscription: string, margin: number): Promise<{ sequence: string; lastValue: string }[]> {
  if (!Number.isSafeInteger(margin) || margin < 0) throw new RangeError(`the sequence margin must be a whole number >= 0, not ${margin}`);
  if (margin === 0) return [];
  const seqs = await listSequences(db, subscription);
  if (!seqs.length) return [];
  const values = await sequenceValues(db, seqs.map((s) => s.dest), 'new root');
  const out: { sequence: string; lastValue: string }[] = [];
  for (const s of seqs) {
    const v = values.get(s.dest)!;
    const inc = BigInt(v.increment);
    const from = v.lastValue === null ? BigInt(v.startValue) - inc : BigInt(v.lastValue);
    const to = from + BigInt(margin) * inc;
    await db.query(sql('sequence_forward'), [s.dest, to.toString()]);
    out.push({ sequence: s.dest, lastValue: to.toString() });
  }
  return out;
}
