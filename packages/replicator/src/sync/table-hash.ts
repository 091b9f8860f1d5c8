/**
 * Server-side hashes of a table's rows, the same on the provider and on the subscriber for
 * equal data. A row's hash is 64 bits of its text form (`ROW(cols)::text`); rows are split
 * into parts, and each part is summed up as (row count, sum of row hashes). Sums depend
 * neither on the order rows are read in nor on the physical layout, so the two sides
 * compare part by part; only the parts that differ are read row by row (drilled).
 *
 * Two ways to split a table (a `Partitioning`):
 * - key ranges, for a one-column integer key: `(key - lo) / step` over the provider's key
 *   span, so that a differing range is drilled by an index range scan;
 * - row-hash buckets, for any other key: the low bits of the row hash itself, nothing more
 *   to compute per row; a drill reads the table once more, keeping the differing buckets.
 *   (Ranges of text, uuid or composite keys would depend on each side's collation.)
 *
 * The row hash is `hashtextextended` (as fast as reading the text) when both servers
 * compute the same value for a probe, otherwise 64 bits of md5.
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

export interface PartSum {
  rows: number;
  /** Sum of the part's row hashes (a decimal string: it exceeds 2^53). */
  sum: string;
}

/** A drilled row: its key's text form and values, and its row hash. */
export interface DrilledRow {
  key: string[];
  hash: string;
}

/**
 * How the rows are split into parts. Expressions are built on `key` (the first key
 * column of `r`) or on `hash` (the row's hash, computed once per row).
 */
export interface Partitioning {
  readonly kind: 'key ranges' | 'row-hash buckets';
  /** The part number of a row, an SQL int8 expression. */
  partOf(key: string, hash: string): string;
  /** An SQL condition keeping the rows of `parts`. */
  rowsIn(key: string, hash: string, parts: readonly string[]): string;
}

/** The row hash function both sides use (see rowHashFunction). */
export type RowHash = 'hashtextextended' | 'md5';

const q = (c: string) => pg.escapeIdentifier(c);

/** Pin the settings text forms depend on, for the rest of the transaction. */
export async function pinValueSettings(client: pg.ClientBase): Promise<void> {
  await client.query('SELECT pg_catalog.set_config(s.name, s.value, true) FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS s(name, value)', [
    Object.keys(VALUE_SETTINGS),
    Object.values(VALUE_SETTINGS),
  ]);
}

/** `hashtextextended` if both sides give the same hash for a probe (same byte order and algorithm), else md5. */
export async function rowHashFunction(a: pg.ClientBase, b: pg.ClientBase): Promise<RowHash> {
  const probe = (c: pg.ClientBase) =>
    c.query<{ h: string }>(`SELECT pg_catalog.hashtextextended('pgferry compare probe', 0)::pg_catalog.text AS h`).then((r) => r.rows[0]!.h);
  const [x, y] = await Promise.all([probe(a), probe(b)]);
  return x === y ? 'hashtextextended' : 'md5';
}

/** The side's rows (`r`), those matching its filter and `condition`. */
function rowsOf(t: HashedTable, condition?: string): string {
  const where = [...(t.filter ? [`(${t.filter})`] : []), ...(condition ? [condition] : [])];
  return `${t.relation} AS r${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

const keyText = (t: HashedTable) => `ROW(${t.keyColumns.map((k) => `r.${q(k)}`).join(', ')})::pg_catalog.text`;
const rowText = (t: HashedTable) => `(ROW(${t.columns.map((c) => `r.${q(c)}`).join(', ')})::pg_catalog.text COLLATE pg_catalog."C")`;

/** Row `r`'s 64-bit hash, an SQL int8 expression. */
export function rowHash(t: HashedTable, fn: RowHash): string {
  return fn === 'hashtextextended'
    ? `pg_catalog.hashtextextended(${rowText(t)}, 0)`
    : `('x' OPERATOR(pg_catalog.||) pg_catalog.md5(${rowText(t)}))::pg_catalog.bit(64)::pg_catalog.int8`;
}

/** Parts by the low bits of the row hash: `buckets` (a power of two) of them. */
export function rowHashBuckets(buckets: number): Partitioning {
  const partOf = (_key: string, hash: string) => `(${hash} OPERATOR(pg_catalog.&) ${buckets - 1})`;
  return {
    kind: 'row-hash buckets',
    partOf,
    rowsIn: (key, hash, parts) => `${partOf(key, hash)} OPERATOR(pg_catalog.=) ANY ('{${parts.join(',')}}'::pg_catalog.int8[])`,
  };
}

/** More differing ranges than this are drilled by one scan keeping their rows, not by index ranges. */
const MAX_RANGE_SCANS = 256;

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/**
 * Parts by ranges of a one-column integer key, about `ranges` of them over lo..hi (the
 * provider's span): part = key / step, truncated toward zero as PostgreSQL divides (part 0
 * spans -step < key < step). One division per row, no overflow for any key.
 */
export function keyRanges(lo: bigint, hi: bigint, ranges: number): Partitioning {
  const step = (hi - lo) / BigInt(ranges) + 1n;
  const n = (x: bigint) => `'${x < INT8_MIN ? INT8_MIN : x > INT8_MAX ? INT8_MAX : x}'::pg_catalog.int8`;
  const partOf = (key: string) => `${key}::pg_catalog.int8 OPERATOR(pg_catalog./) ${n(step)}`;
  const range = (key: string, part: bigint) => {
    const from = part > 0n ? part * step : part * step - step + 1n;
    const to = part < 0n ? part * step : part * step + step - 1n;
    return `(${key} OPERATOR(pg_catalog.>=) ${n(from)} AND ${key} OPERATOR(pg_catalog.<=) ${n(to)})`;
  };
  return {
    kind: 'key ranges',
    partOf,
    rowsIn: (key, _hash, parts) =>
      parts.length > MAX_RANGE_SCANS
        ? `(${partOf(key)}) OPERATOR(pg_catalog.=) ANY ('{${parts.join(',')}}'::pg_catalog.int8[])`
        : `(${parts.map((part) => range(key, BigInt(part))).join(' OR ')})`,
  };
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * Key ranges for a one-column integer key (its span read from `reader`, the provider),
 * row-hash buckets otherwise or for an empty table. `parts` is a power of two.
 */
export async function choosePartitioning(reader: pg.ClientBase, t: HashedTable, parts: number): Promise<Partitioning> {
  if (t.keyColumns.length === 1) {
    const k = `r.${q(t.keyColumns[0]!)}`;
    const { rows } = await reader.query<{ lo: string | null; hi: string | null; type: string }>(
      `SELECT pg_catalog.min(${k})::pg_catalog.text AS lo, pg_catalog.max(${k})::pg_catalog.text AS hi,
              pg_catalog.pg_typeof(pg_catalog.min(${k}))::pg_catalog.text AS type
         FROM ${rowsOf(t)}`,
    );
    const { lo, hi, type } = rows[0]!;
    if (INTEGER_TYPES.has(type) && lo !== null && hi !== null) return keyRanges(BigInt(lo), BigInt(hi), parts);
  }
  return rowHashBuckets(parts);
}

const firstKey = (t: HashedTable) => `r.${q(t.keyColumns[0]!)}`;

/** Each part's row count and hash sum. */
export async function partSums(client: pg.ClientBase, t: HashedTable, p: Partitioning, fn: RowHash): Promise<Map<string, PartSum>> {
  // By hash: the hash is computed once per row (OFFSET 0 keeps the planner from inlining it twice).
  const from =
    p.kind === 'key ranges'
      ? `(SELECT ${p.partOf(firstKey(t), '')} AS b, ${rowHash(t, fn)} AS h FROM ${rowsOf(t)}) AS x`
      : `(SELECT ${p.partOf('', 'y.h')} AS b, y.h FROM (SELECT ${rowHash(t, fn)} AS h FROM ${rowsOf(t)} OFFSET 0) AS y) AS x`;
  const { rows } = await client.query<{ b: string; n: string; s: string }>(
    `SELECT x.b::pg_catalog.text AS b, pg_catalog.count(*) AS n, pg_catalog.sum(x.h)::pg_catalog.text AS s FROM ${from} GROUP BY x.b`,
  );
  return new Map(rows.map((r) => [r.b, { rows: Number(r.n), sum: r.s }]));
}

/** Parts whose count or sum differ between the two sides. */
export function differingParts(a: Map<string, PartSum>, b: Map<string, PartSum>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter((part) => a.get(part)?.rows !== b.get(part)?.rows || a.get(part)?.sum !== b.get(part)?.sum);
}

/** Key text -> the key's values (text) and row hash, for the rows of `parts`. */
export async function drill(client: pg.ClientBase, t: HashedTable, p: Partitioning, fn: RowHash, parts: readonly string[]): Promise<Map<string, DrilledRow>> {
  if (!parts.length) return new Map();
  const keys = t.keyColumns.map((k, i) => `r.${q(k)}::pg_catalog.text AS k${i}`).join(', ');
  // Key ranges select rows by key (index ranges), buckets by the hash computed below.
  const inner = p.kind === 'key ranges' ? rowsOf(t, p.rowsIn(firstKey(t), '', parts)) : rowsOf(t);
  const outer = p.kind === 'key ranges' ? 'true' : p.rowsIn('', 'x.h', parts);
  const { rows } = await client.query<Record<string, string>>(
    `SELECT x.* FROM (SELECT ${keyText(t)} AS key, ${keys}, ${rowHash(t, fn)} AS h FROM ${inner} OFFSET 0) AS x WHERE ${outer}`,
  );
  return new Map(rows.map((r) => [r.key!, { key: t.keyColumns.map((_, i) => r[`k${i}`]!), hash: String(r.h) }]));
}

/**
 * A condition on `r` matching the rows whose key is one of `keys` (values as text, under
 * the pinned settings): untyped literals take each key column's type, so indexes serve it.
 */
function keyIn(t: HashedTable, keys: readonly string[][]): string {
  const cols = t.keyColumns.map((k) => `r.${q(k)}`);
  const lit = (v: string) => pg.escapeLiteral(v);
  if (cols.length === 1) return `${cols[0]} IN (${keys.map((k) => lit(k[0]!)).join(', ')})`;
  return `(${cols.join(', ')}) IN (${keys.map((k) => `(${k.map(lit).join(', ')})`).join(', ')})`;
}

/** `SELECT` of the replicated columns of the rows with `keys` (for COPY: keys inlined as literals). */
export function rowsWithKeys(t: HashedTable, keys: readonly string[][]): string {
  return `SELECT ${t.columns.map((c) => `r.${q(c)}`).join(', ')} FROM ${rowsOf(t, keyIn(t, keys))}`;
}

/** `DELETE` of the rows with `keys`. */
export function deleteKeys(t: HashedTable, keys: readonly string[][]): string {
  return `DELETE FROM ${t.relation} AS r WHERE ${keyIn(t, keys)}`;
}
