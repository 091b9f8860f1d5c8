/**
 * Server-side hashes of a table's rows, the same on the provider and on the subscriber for
 * equal data: rows are put into buckets by their key's text form, and each bucket is summed
 * up as (row count, sum of 60-bit row hashes). Sums do not depend on the order rows are
 * read in, nor on the physical layout, so the two sides compare bucket by bucket; only the
 * buckets that differ are read row by row.
 *
 * Text forms depend on session settings: every read runs under VALUE_SETTINGS (set for the
 * transaction), as the copy and the apply do.
 */
import pg from 'pg';
import { VALUE_SETTINGS } from '@pgferry/queue';

/** Where a side's rows are: a table (qualified, quoted), its replicated columns, key, filter. */
export interface HashedTable {
  relation: string;
  columns: string[];
  keyColumns: string[];
  /** An SQL condition on the row (`r`): only matching rows count (the capture's filter). */
  filter: string | null;
}

export interface BucketSum {
  rows: number;
  /** Sum of the bucket's row hashes (a decimal string: it exceeds 2^53). */
  sum: string;
}

const q = (c: string) => pg.escapeIdentifier(c);

/** Pin the settings text forms depend on, for the rest of the transaction. */
export async function pinValueSettings(client: pg.ClientBase): Promise<void> {
  for (const [name, value] of Object.entries(VALUE_SETTINGS)) {
    await client.query('SELECT pg_catalog.set_config($1, $2, true)', [name, value]);
  }
}

/** The side's rows (`r`), those matching its filter and `condition`. */
function rowsOf(t: HashedTable, condition?: string): string {
  const where = [...(t.filter ? [`(${t.filter})`] : []), ...(condition ? [condition] : [])];
  return `${t.relation} AS r${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

const keyText = (t: HashedTable) => `ROW(${t.keyColumns.map((k) => `r.${q(k)}`).join(', ')})::pg_catalog.text`;
/** The key's text for bucketing: a one-column key's own text form (no row to build per row). */
const keyBucketText = (t: HashedTable) =>
  t.keyColumns.length === 1 ? `r.${q(t.keyColumns[0]!)}::pg_catalog.text` : keyText(t);
const rowText = (t: HashedTable) => `ROW(${t.columns.map((c) => `r.${q(c)}`).join(', ')})::pg_catalog.text`;
const bucketOf = (t: HashedTable, mask: number) => `(pg_catalog.hashtext(${keyBucketText(t)}) & ${mask})`;
const rowHash = (t: HashedTable) =>
  `('x' || pg_catalog.substr(pg_catalog.md5(${rowText(t)}), 1, 15))::pg_catalog.bit(60)::pg_catalog.int8`;

/** Each bucket's row count and hash sum (`buckets` a power of two). */
export async function bucketSums(client: pg.ClientBase, t: HashedTable, buckets: number): Promise<Map<number, BucketSum>> {
  const mask = buckets - 1;
  const { rows } = await client.query<{ b: number; n: string; s: string }>(
    `SELECT b, pg_catalog.count(*) AS n, pg_catalog.sum(h)::pg_catalog.text AS s
       FROM (SELECT ${bucketOf(t, mask)} AS b, ${rowHash(t)} AS h FROM ${rowsOf(t)}) x
      GROUP BY b`,
  );
  return new Map(rows.map((r) => [r.b, { rows: Number(r.n), sum: r.s }]));
}

/** Key text -> row hash of the rows in `buckets` (numbers: inlined, nothing from a user). */
export async function rowHashes(client: pg.ClientBase, t: HashedTable, bucketCount: number, buckets: number[]): Promise<Map<string, string>> {
  if (!buckets.length) return new Map();
  const mask = bucketCount - 1;
  const { rows } = await client.query<{ k: string; h: string }>(
    `SELECT ${keyText(t)} AS k, pg_catalog.md5(${rowText(t)}) AS h FROM ${rowsOf(t, `${bucketOf(t, mask)} = ANY ($1::pg_catalog.int4[])`)}`,
    [buckets],
  );
  return new Map(rows.map((r) => [r.k, r.h]));
}

/** `SELECT` of the rows whose key text is one of `keys` (for COPY: the keys are inlined as literals). */
export function rowsWithKeys(t: HashedTable, keys: readonly string[]): string {
  const list = keys.map((k) => pg.escapeLiteral(k)).join(', ');
  const where = `${keyText(t)} = ANY (ARRAY[${list}]::pg_catalog.text[])`;
  return `SELECT ${t.columns.map((c) => `r.${q(c)}`).join(', ')} FROM ${rowsOf(t, where)}`;
}

/** `DELETE` of the rows whose key text is one of `$1`. */
export function deleteKeys(t: HashedTable): string {
  return `DELETE FROM ${t.relation} AS r WHERE ${keyText(t)} = ANY ($1::pg_catalog.text[])`;
}
