/**
 * Where the partition router puts a row, in SQL: the partition of a value is computed by the
 * server from the typed value (date_trunc in the configured time zone, or a hash), never in
 * JavaScript, and set-based: one statement per chunk of images (or over the staged copy)
 * returns the distinct partitions the rows need, whether each exists, and which rows go
 * where. Names: `<dest>_<YYYY_MM_DD_HH24 | YYYY_MM_DD | YYYY_MM | YYYY>` by period (as
 * Londiste's dispatch handler names them), `<dest>_p<remainder>` by hash, in dest's schema.
 */
import pg from 'pg';
import { PERIOD_SUFFIX, type PartitionSpec } from './partition-args.js';

/** The destination as the catalogs describe it (sql/queries/partition_dest.sql). */
export interface PartitionDest {
  oid: string;
  schema: string;
  name: string;
  kind: string;
  /** 'r' range, 'h' hash, 'l' list; null when dest is not a partitioned table. */
  strategy: string | null;
  partition_columns: string[] | null;
  /** The partition column's type, schema-qualified and quoted (null: no such column). */
  column_type: string | null;
  time_kind: 'timestamptz' | 'timestamp' | 'date' | null;
}

/** One partition a set of rows needs. */
export interface PartitionGroup {
  /** The partition's table name (unqualified; null when the rows' column is NULL). */
  partition: string | null;
  /** Range bounds (text forms of the column's type), or modulus and remainder by hash. */
  lo: string;
  hi: string;
  present: boolean;
  /** A relation of the partition's name exists (attached or not). */
  taken: boolean;
  /** The 1-based positions of the rows in the images given (JSON source only). */
  ords: string[] | null;
}

/** Where the rows are read from: a JSON array of row images ($1), or a relation. */
export type RowSource = { kind: 'json' } | { kind: 'relation'; relation: string };

const lit = pg.escapeLiteral;
const ident = pg.escapeIdentifier;

export function qualifiedDest(d: PartitionDest): string {
  return `${ident(d.schema)}.${ident(d.name)}`;
}

export function qualifiedPartition(d: PartitionDest, partition: string): string {
  return `${ident(d.schema)}.${ident(partition)}`;
}

/** The column's typed value in a row of `source`. */
function typedValue(spec: PartitionSpec, d: PartitionDest, source: RowSource): string {
  return source.kind === 'json'
    ? `pg_catalog.json_extract_path_text(e.j, ${lit(spec.column)})::${d.column_type}`
    : `s.${ident(spec.column)}`;
}

/** A time value as a local timestamp in the configured zone (the day of a timestamptz is a zone's day). */
function localTime(spec: PartitionSpec, d: PartitionDest, v: string): string {
  if (spec.scheme.kind !== 'period') throw new Error('not a period scheme');
  if (d.time_kind === 'timestamptz') return `pg_catalog.timezone(${lit(spec.scheme.timezone)}, ${v})`;
  if (d.time_kind === 'date') return `${v}::pg_catalog.timestamp`;
  return v;
}

/** A local timestamp back as a value of the column's type (a partition bound). */
function bound(spec: PartitionSpec, d: PartitionDest, local: string): string {
  if (spec.scheme.kind !== 'period') throw new Error('not a period scheme');
  if (d.time_kind === 'timestamptz') return `pg_catalog.timezone(${lit(spec.scheme.timezone)}, ${local})`;
  if (d.time_kind === 'date') return `(${local})::pg_catalog.date`;
  return local;
}

/**
 * Hash partitions of a 'tables' layout: the value's text form hashed (as Londiste's shard
 * handler does). Any hash would do for correctness: deletes and updates find a row through
 * the base table wherever it is.
 */
function tablesHash(modulus: number, v: string): string {
  return `pg_catalog.mod(pg_catalog.abs(COALESCE(pg_catalog.hashtext(${v}::pg_catalog.text), 0)::pg_catalog.int8), ${modulus})`;
}

/**
 * The partitions the rows of `source` need. With `withRows` every partition is returned
 * with the positions of its rows; without, only those missing (and a NULL time, which has
 * no partition).
 */
export function routeStatement(spec: PartitionSpec, d: PartitionDest, source: RowSource, withRows: boolean): string {
  const v = typedValue(spec, d, source);
  const from = source.kind === 'json'
    ? `pg_catalog.json_array_elements($1::pg_catalog.json) WITH ORDINALITY AS e(j, o)`
    : `${source.relation} AS s`;
  const ord = source.kind === 'json' ? 'e.o' : 'NULL::pg_catalog.int8';
  const rel = (name: string) => `pg_catalog.to_regclass(pg_catalog.format('%I.%I', ${lit(d.schema)}, ${name}))`;
  // A partition is present when it is attached to (declarative) or inherits from (tables) dest.
  const present = (name: string) =>
    `EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) ${rel(name)} AND i.inhparent OPERATOR(pg_catalog.=) ${lit(d.oid)}::pg_catalog.oid)`;
  const taken = (name: string) => `${rel(name)} IS NOT NULL AS taken`;
  // Without rows, still the rows of a NULL time (to name one in the error).
  const ords = withRows ? 'pg_catalog.array_agg(r.o)::pg_catalog.text[]' : 'CASE WHEN r.g IS NULL THEN pg_catalog.array_agg(r.o)::pg_catalog.text[] END';
  const scheme = spec.scheme;
  let groups: string;
  if (scheme.kind === 'period') {
    const g = `pg_catalog.date_trunc(${lit(scheme.period)}, ${localTime(spec, d, v)})`;
    const partition = `pg_catalog.concat(${lit(d.name)}, '_', pg_catalog.to_char(r.g, ${lit(PERIOD_SUFFIX[scheme.period])}))`;
    groups = `
      SELECT CASE WHEN r.g IS NOT NULL THEN ${partition} END AS partition,
             (${bound(spec, d, 'r.g')})::pg_catalog.text AS lo,
             (${bound(spec, d, `r.g OPERATOR(pg_catalog.+) ${lit(`1 ${scheme.period}`)}::pg_catalog.interval`)})::pg_catalog.text AS hi,
             r.g IS NOT NULL AND ${present(partition)} AS present,
             r.g IS NOT NULL AND ${taken(partition)},
             ${ords} AS ords
        FROM (SELECT ${ord} AS o, ${g} AS g FROM ${from}) r
       GROUP BY r.g`;
  } else if (spec.mode === 'tables') {
    const partition = `pg_catalog.concat(${lit(d.name)}, '_p', r.g)`;
    groups = `
      SELECT ${partition} AS partition, ${lit(String(scheme.modulus))} AS lo, r.g::pg_catalog.text AS hi,
             ${present(partition)} AS present, ${taken(partition)}, ${ords} AS ords
        FROM (SELECT ${ord} AS o, ${tablesHash(scheme.modulus, v)} AS g FROM ${from}) r
       GROUP BY r.g`;
  } else {
    // Declarative hash: the server routes rows itself; only the missing remainders that
    // some row needs are looked for (by the server's own partition hash).
    const partition = `pg_catalog.concat(${lit(d.name)}, '_p', m.r)`;
    return `
      WITH v AS MATERIALIZED (SELECT ${v} AS v FROM ${from})
      SELECT ${partition} AS partition, ${lit(String(scheme.modulus))} AS lo, m.r::pg_catalog.text AS hi, false AS present,
             ${taken(partition)}, NULL::pg_catalog.text[] AS ords
        FROM pg_catalog.generate_series(0, ${scheme.modulus - 1}) AS m(r)
       WHERE NOT ${present(partition)}
         AND EXISTS (SELECT FROM v WHERE pg_catalog.satisfies_hash_partition(${lit(d.oid)}::pg_catalog.oid, ${scheme.modulus}, m.r, v.v))`;
  }
  return withRows ? groups : `SELECT * FROM (${groups}) p WHERE NOT p.present`;
}

/** A row of `valueOf` (a column reference) belongs to the partition of `g`. */
export function partitionPredicate(spec: PartitionSpec, d: PartitionDest, column: string, g: PartitionGroup): string {
  if (spec.scheme.kind === 'period') {
    return `${column} >= ${lit(g.lo)}::${d.column_type} AND ${column} < ${lit(g.hi)}::${d.column_type}`;
  }
  return `${tablesHash(spec.scheme.modulus, column)} = ${Number(g.hi)}`;
}

/**
 * The lock on dest that creating a partition takes (declarative: ACCESS EXCLUSIVE, as
 * CREATE TABLE ... PARTITION OF; tables: SHARE UPDATE EXCLUSIVE, as CREATE TABLE ...
 * INHERITS), taken before looking for missing partitions a second time: a transaction
 * creating the same partition meanwhile has committed (or rolled back) once it is granted.
 * Taking no stronger lock than the CREATE's adds no wait and no deadlock the CREATE has not.
 */
export function lockForCreateStatement(spec: PartitionSpec, d: PartitionDest): string {
  return `LOCK TABLE ${qualifiedDest(d)} IN ${spec.mode === 'declarative' ? 'ACCESS EXCLUSIVE' : 'SHARE UPDATE EXCLUSIVE'} MODE`;
}

/**
 * A merged table's copies, one at a time (SHARE UPDATE EXCLUSIVE conflicts with itself, not
 * with the other sources' applies): a copy reads and writes dest (its staging table is made
 * from dest, its own rows are emptied) and then creates the partitions its rows need, whose
 * lock conflicts with those; two copies at once would each wait for the other (a deadlock).
 */
export function lockForMergedCopyStatement(d: PartitionDest): string {
  return `LOCK TABLE ${qualifiedDest(d)} IN SHARE UPDATE EXCLUSIVE MODE`;
}

/**
 * Create the partition of `g` (in the caller's transaction: it commits with the batch or the
 * copy that needed it). declarative: attached to dest. tables: a table like dest (its
 * columns, defaults, constraints and indexes), inheriting from it (a DELETE or UPDATE
 * through dest finds a row in any partition), with a CHECK that only its rows fit.
 */
export function createPartitionStatement(spec: PartitionSpec, d: PartitionDest, g: PartitionGroup): string {
  const table = qualifiedPartition(d, g.partition!);
  const dest = qualifiedDest(d);
  if (spec.mode === 'declarative') {
    const bounds = spec.scheme.kind === 'period'
      ? `FROM (${lit(g.lo)}) TO (${lit(g.hi)})`
      : `WITH (MODULUS ${Number(g.lo)}, REMAINDER ${Number(g.hi)})`;
    return `CREATE TABLE IF NOT EXISTS ${table} PARTITION OF ${dest} FOR VALUES ${bounds}`;
  }
  const check = partitionPredicate(spec, d, ident(spec.column), g);
  return `CREATE TABLE IF NOT EXISTS ${table} (LIKE ${dest} INCLUDING ALL, CONSTRAINT pgferry_partition CHECK (${check})) INHERITS (${dest})`;
}
