/**
 * Node names and the names derived from them. A leaf's name is its consumer on the root's
 * queue, and its copies register consumers named `copyConsumerName(leaf, table)`; every one
 * of those must pass the queue's name rule (pgferry._check_name: 1 to 100 characters of
 * [A-Za-z0-9_.:-]), or a table stays in-copy forever. So the node name rule is derived
 * here, once, from the longest name derived from it.
 */
import { createHash } from 'node:crypto';
import { ReplicationSetupError } from '../errors.js';

/** The consumer a copy of `source` registers for its catch-up. */
export function copyConsumerName(subscription: string, source: string): string {
  return `${subscription}:copy:${createHash('md5').update(source).digest('hex').slice(0, 12)}`;
}

/** The queue's rule for consumer names (pgferry._check_name). */
const CONSUMER_NAME_MAX = 100;
const CONSUMER_NAME_RE = new RegExp(`^[A-Za-z0-9_.:-]{1,${CONSUMER_NAME_MAX}}$`);

/** ':' separates a node name from what is derived from it, so node names never contain it. */
const NODE_NAME_RE = /^[A-Za-z0-9_.-]+$/;

/** What the derived names add to a node name, at most. */
function derivedSuffixLength(): number {
  // The table part of a copy consumer name is a fixed-length hash, whatever the table.
  return copyConsumerName('', 'any.table').length;
}

/** The longest node name whose derived names are all valid consumer names. */
export function maxNodeNameLength(): number {
  return CONSUMER_NAME_MAX - derivedSuffixLength();
}

/** Refuse a name a new node cannot have (before anything is changed). */
export function checkNodeName(name: string): void {
  const max = maxNodeNameLength();
  if (typeof name !== 'string' || name.length === 0 || name.length > max || !NODE_NAME_RE.test(name)) {
    const shown = typeof name === 'string' ? `"${name}" (${name.length} characters)` : String(name);
    throw new ReplicationSetupError(`invalid node name ${shown}`, {
      hint: `use 1 to ${max} characters: letters, digits, "_", "." or "-" (the replicator derives consumer names of up to ${CONSUMER_NAME_MAX} characters from it, separated by ":")`,
    });
  }
}

/**
 * Refuse to add a table to a leaf whose copy consumer names would be invalid (a leaf created
 * before the name rule): its copy could never start.
 */
export function checkLeafCanCopy(node: string, table: string): void {
  const consumer = copyConsumerName(node, table);
  if (!CONSUMER_NAME_RE.test(consumer)) {
    throw new ReplicationSetupError(`leaf "${node}" cannot copy tables: its copy consumer name "${consumer}" is not a valid consumer name`, {
      hint: `remove the leaf (drop-leaf) and create it again with a name of 1 to ${maxNodeNameLength()} characters: letters, digits, "_", "." or "-"`,
    });
  }
}

/**
 * Whether `consumer` is a copy (catch-up) consumer of node `node`: exactly the shape
 * copyConsumerName gives (the node, ":copy:", a hex hash of fixed length), so that no other
 * node's consumer matches.
 */
export function isCopyConsumerOf(node: string, consumer: string): boolean {
  const prefix = `${node}:copy:`;
  return (
    consumer.length === copyConsumerName(node, 'any.table').length &&
    consumer.startsWith(prefix) &&
    /^[0-9a-f]+$/.test(consumer.slice(prefix.length))
  );
}

/**
 * The consumer a branch keeps on its provider's queue at the oldest position of the nodes
 * below it (see admin/cascade.ts): the provider holds their events, so they can move to it.
 */
export function watermarkConsumerName(branch: string): string {
  return `${branch}:watermark`;
}
