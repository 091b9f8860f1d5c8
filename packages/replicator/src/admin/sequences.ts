/**
 * Sequence administration: add sequences to a subscription (one, or all of some schemas),
 * remove them, list them. Added like tables: checked on both sides first, nothing changed
 * when refused; once added, the subscriber's sequence is set forward at once and then by
 * every batch of the main stream (stream/sequences.ts), so it is never behind the provider's.
 */
import createDebug from 'debug';
import pg from 'pg';
import { inTransaction, withClient, type Queryable } from '@pgferry/queue';
import { ReplicationSetupError, SequenceNotFoundError } from '../errors.js';
import { sql } from '../sql.js';
import { forwardSequences, listSequences } from '../stream/sequences.js';
import { toSubscribedSequence, type SubscribedSequence, type SubscriberSequenceRow } from '../state/subscribed-sequence.js';
import { providerNode, subscriberNode, type NodeInfo } from './nodes.js';
import { listTables } from './tables.js';

const debug = createDebug('pgferry:replicator:sequences');

interface SequenceInfoRow {
  name: string;
  kind: string;
  data_type: string | null;
  increment: string | null;
  min_value: string | null;
  max_value: string | null;
  start_value: string | null;
  cache: string | null;
  cycle: boolean | null;
}

/** A relation's canonical name, kind and (a sequence) definition; null when it does not exist. */
async function sequenceInfo(db: Queryable, name: string): Promise<SequenceInfoRow | null> {
  const { rows } = await db.query<SequenceInfoRow>(sql('sequence_info'), [name]).catch((err: unknown) => {
    // to_regclass() raises on a malformed name (42602) or an unknown database (0A000).
    const code = (err as { code?: string }).code;
    if (code !== '42602' && code !== '0A000') throw err;
    throw new ReplicationSetupError(`invalid sequence name "${name}": ${(err as Error).message}`, { cause: err });
  });
  return rows[0] ?? null;
}

export interface AddSequenceOptions {
  /** The leaf or branch (subscription). */
  subscription: string;
  /** The sequence on the provider (schema.name; default schema as the search_path finds it). */
  sequence: string;
  /** The sequence on the subscriber (default: the same name; a branch keeps its provider's names). */
  dest?: string;
  /** Create the subscriber's sequence from the provider's definition when it does not exist. */
  create?: boolean;
}

/** What adding one sequence will do, checked on both sides. */
interface SequencePlan {
  source: string;
  /** The subscriber sequence's name as given (canonical once it exists). */
  dest: string;
  createSql: string | null;
}

async function planSequence(provider: Queryable, subscriber: Queryable, leaf: NodeInfo, prov: NodeInfo, o: AddSequenceOptions, have: SubscribedSequence[]): Promise<SequencePlan> {
  const src = await sequenceInfo(provider, o.sequence);
  if (!src && prov.type === 'branch') {
    throw new SequenceNotFoundError(`branch "${prov.name}" does not replicate sequence "${o.sequence}" (it has no such sequence)`, { hint: `add it to the branch first (add-sequence --node ${prov.name} --create)` });
  }
  if (!src) throw new SequenceNotFoundError(`sequence "${o.sequence}" does not exist on the provider`, { hint: 'name a sequence of the provider (schema.name)' });
  if (src.kind !== 'S') throw new ReplicationSetupError(`"${o.sequence}" on the provider is not a sequence`);
  if (src.name.startsWith('pgferry.')) throw new ReplicationSetupError(`${src.name} on the provider is one of pgferry's own sequences`, { hint: 'replicate application sequences only' });
  if (prov.type === 'branch' && !(await listSequences(provider, prov.name)).some((s) => s.source === src.name)) {
    throw new ReplicationSetupError(`branch "${prov.name}" does not replicate sequence ${src.name}`, { hint: `add it to the branch first (add-sequence --node ${prov.name})` });
  }
  if (have.some((s) => s.source === src.name)) throw new ReplicationSetupError(`sequence ${src.name} is in subscription "${leaf.name}" already`);
  const destName = o.dest ?? src.name;
  const dst = await sequenceInfo(subscriber, destName);
  if (leaf.type === 'branch' && (dst?.name ?? destName) !== src.name) {
    throw new ReplicationSetupError(`branch "${leaf.name}" keeps its provider's sequence names: ${src.name} cannot go into ${destName}`, {
      hint: 'nodes below a branch, and the branch once promoted, use the same sequences; use --dest on a leaf',
    });
  }
  if (dst) {
    if (dst.kind !== 'S') throw new ReplicationSetupError(`"${destName}" on the subscriber is not a sequence`);
    if (dst.name.startsWith('pgferry.')) throw new ReplicationSetupError(`${dst.name} on the subscriber is one of pgferry's own sequences`);
    if (have.some((s) => s.dest === dst.name)) throw new ReplicationSetupError(`sequence ${dst.name} on the subscriber receives another sequence of subscription "${leaf.name}" already`);
    if (BigInt(dst.increment!) > 0n !== BigInt(src.increment!) > 0n) {
      throw new ReplicationSetupError(`sequence ${dst.name} on the subscriber counts the other way than ${src.name} on the provider (increment ${dst.increment}, not ${src.increment})`, {
        hint: 'give both the same direction: values are only ever moved forward',
      });
    }
    return { source: src.name, dest: dst.name, createSql: null };
  }
  if (!o.create) {
    throw new SequenceNotFoundError(`sequence "${destName}" does not exist on the subscriber`, { hint: 'create it there, or pass create: true / --create to create it from the provider\'s definition' });
  }
  const createSql =
    `CREATE SEQUENCE ${quoteName(destName)} AS ${src.data_type} INCREMENT BY ${src.increment} MINVALUE ${src.min_value} ` +
    `MAXVALUE ${src.max_value} START WITH ${src.start_value} CACHE ${src.cache}${src.cycle ? ' CYCLE' : ' NO CYCLE'}`;
  return { source: src.name, dest: destName, createSql };
}

/** A name as given (`schema.name`, `"Mixed Case"`, or a bare name: schema public), quoted part by part. */
function quoteName(name: string): string {
  const parts = name.match(/"(?:[^"]|"")*"|[^.]+/g) ?? [name];
  const unquote = (p: string) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p.toLowerCase());
  return (parts.length === 1 ? ['public', unquote(parts[0]!)] : parts.map(unquote)).map((p) => pg.escapeIdentifier(p)).join('.');
}

/**
 * Add planned sequences to the subscription in one subscriber transaction (created first
 * where asked), then set them forward to the provider's values at once.
 */
async function addPlanned(provider: Queryable, subscriber: pg.Pool, leaf: NodeInfo, plans: SequencePlan[]): Promise<SubscribedSequence[]> {
  const added = await withClient(subscriber, (c) =>
    inTransaction(c, async () => {
      const out: SubscribedSequence[] = [];
      for (const p of plans) {
        if (p.createSql) await c.query(p.createSql);
        const dest = (await sequenceInfo(c, p.dest))!.name;
        const { rows } = await c.query<SubscriberSequenceRow>(sql('insert_subscriber_sequence'), [leaf.name, p.source, dest]);
        if (!rows[0]) throw new ReplicationSetupError(`sequence ${p.source} is in subscription "${leaf.name}" already`);
        out.push(toSubscribedSequence(rows[0]));
      }
      return out;
    }),
  ).catch((err: unknown) => {
    throw err instanceof ReplicationSetupError ? err : new ReplicationSetupError(`cannot add sequences on the subscriber: ${(err as Error).message}`, { cause: err });
  });
  await forwardSequences(provider, subscriber, leaf.name, added);
  for (const s of added) debug('added sequence %s -> %s to %s', s.source, s.dest, leaf.name);
  return listSequences(subscriber, leaf.name).then((all) => all.filter((s) => added.some((a) => a.source === s.source)));
}

/**
 * Add a sequence to a subscription: its subscriber sequence (checked, or created with
 * `create`) is set forward to the provider's value at once, and by every batch from then on.
 */
export async function addSequence(provider: Queryable, subscriber: pg.Pool, o: AddSequenceOptions): Promise<SubscribedSequence> {
  const leaf = await subscriberNode(subscriber, o.subscription);
  const prov = await providerNode(provider);
  const plan = await planSequence(provider, subscriber, leaf, prov, o, await listSequences(subscriber, leaf.name));
  return (await addPlanned(provider, subscriber, leaf, [plan]))[0]!;
}

export interface AddAllSequencesOptions {
  subscription: string;
  /**
   * The schemas whose sequences are added: default, the schemas of the subscription's
   * tables; 'every': every schema of the provider but the system's and pgferry's.
   */
  schemas?: string[] | 'every';
  create?: boolean;
}

/**
 * Add every sequence of some schemas of the provider (those the subscription has already are
 * left as they are; below a branch, those the branch replicates). All are checked first:
 * one refused, none added. Returns those added.
 */
export async function addAllSequences(provider: Queryable, subscriber: pg.Pool, o: AddAllSequencesOptions): Promise<SubscribedSequence[]> {
  const leaf = await subscriberNode(subscriber, o.subscription);
  const prov = await providerNode(provider);
  const schemas =
    o.schemas === 'every' ? null : o.schemas ?? [...new Set((await listTables(subscriber, leaf.name)).map((t) => schemaOf(t.source)))];
  if (schemas?.length === 0) {
    throw new ReplicationSetupError(`subscription "${leaf.name}" has no tables, so no schemas to take sequences from`, { hint: 'name the schemas (--schema), or add tables first' });
  }
  let names = (await provider.query<{ name: string }>(sql('schema_sequences'), [schemas])).rows.map((r) => r.name);
  if (prov.type === 'branch') {
    const provided = new Set((await listSequences(provider, prov.name)).map((s) => s.source));
    names = names.filter((n) => provided.has(n));
  }
  const have = await listSequences(subscriber, leaf.name);
  const plans: SequencePlan[] = [];
  for (const name of names.filter((n) => !have.some((s) => s.source === n))) {
    plans.push(await planSequence(provider, subscriber, leaf, prov, { subscription: leaf.name, sequence: name, create: o.create }, have));
  }
  return plans.length ? addPlanned(provider, subscriber, leaf, plans) : [];
}

/** The schema of a canonical `schema.name` (quoted parts as they are). */
function schemaOf(canonical: string): string {
  const m = /^("(?:[^"]|"")*"|[^.]+)\./.exec(canonical);
  const s = m?.[1] ?? 'public';
  return s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s;
}

/** A sequence of the subscription, by its provider or subscriber name (`public.` may be left out). */
export async function findSequence(subscriber: Queryable, subscription: string, sequence: string): Promise<SubscribedSequence> {
  const all = await listSequences(subscriber, subscription);
  const s = all.find((x) => x.source === sequence || x.dest === sequence) ?? all.find((x) => x.source === `public.${sequence}` || x.dest === `public.${sequence}`);
  if (!s) throw new SequenceNotFoundError(`sequence "${sequence}" is not in subscription "${subscription}"`, { hint: 'see its sequences with pgferry replicate sequences' });
  return s;
}

/** Stop replicating a sequence (the subscriber's sequence stays, with its value). */
export async function removeSequence(subscriber: pg.Pool, o: { subscription: string; sequence: string }): Promise<SubscribedSequence> {
  const leaf = await subscriberNode(subscriber, o.subscription);
  const s = await findSequence(subscriber, leaf.name, o.sequence);
  await subscriber.query(sql('delete_subscriber_sequence'), [leaf.name, s.source]);
  debug('removed sequence %s from %s', s.source, leaf.name);
  return s;
}

export { listSequences };
