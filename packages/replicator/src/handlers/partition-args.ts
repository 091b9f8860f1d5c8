/**
 * The partition router's arguments (`--handler-arg name=value`), checked without a database:
 * what can be refused from the arguments and the table's replicated columns alone is
 * refused here, at add-table, before anything changes. What needs the subscriber's
 * catalogs (the column's type, the destination's partitioning) is checked by prepare().
 */
import pg from 'pg';
import { HandlerArgsError } from '../errors.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { checkKnownArgs, requiredArg } from './handler-args.js';
import type { HandlerArgs } from './types.js';

export type Period = 'hour' | 'day' | 'month' | 'year';

export const PERIODS: readonly Period[] = ['hour', 'day', 'month', 'year'];

/** Partition name suffixes by period, as Londiste's dispatch handler names them. */
export const PERIOD_SUFFIX: Readonly<Record<Period, string>> = {
  hour: 'YYYY_MM_DD_HH24',
  day: 'YYYY_MM_DD',
  month: 'YYYY_MM',
  year: 'YYYY',
};

/** Longest suffix (with its '_') a period or modulus adds to the destination's name. */
export function suffixLength(spec: PartitionSpec): number {
  if (spec.scheme.kind === 'hash') return `_p${spec.scheme.modulus - 1}`.length;
  return { hour: 14, day: 11, month: 8, year: 5 }[spec.scheme.period];
}

export type Scheme =
  | { kind: 'period'; period: Period; timezone: string }
  | { kind: 'hash'; modulus: number };

export interface PartitionSpec {
  /** The column choosing the partition (a replicated column). */
  column: string;
  scheme: Scheme;
  /**
   * declarative: dest is a partitioned table, partitions are attached to it (PARTITION OF).
   * tables: dest is a plain base table, partitions are tables inheriting from it.
   */
  mode: 'declarative' | 'tables';
}

const KNOWN = ['column', 'period', 'hash', 'mode', 'timezone'];
export const MAX_MODULUS = 1024;

/** Parse and check the arguments against the table's replicated and key columns. */
export function parsePartitionArgs(table: Pick<SubscribedTable, 'dest' | 'columns' | 'keyColumns' | 'mergeColumn'>, args: HandlerArgs): PartitionSpec {
  const fail = (message: string, hint: string): never => {
    throw new HandlerArgsError(`handler "partition" for ${table.dest}: ${message}`, { hint });
  };
  const usage = 'column=<column> and period=hour|day|month|year or hash=<n>; optional mode=declarative|tables, timezone=<zone>';
  checkKnownArgs('partition', args, KNOWN);
  const column = requiredArg('partition', args, 'column', '<the column that chooses a row\'s partition>');
  if (!table.columns.includes(column)) {
    fail(`argument "column": ${pg.escapeIdentifier(column)} is not a replicated column`, `one of ${table.columns.map((c) => pg.escapeIdentifier(c)).join(', ')}`);
  }

  const mode = args.mode ?? 'declarative';
  if (mode !== 'declarative' && mode !== 'tables') {
    fail(`argument "mode" is "${mode}"`, 'mode=declarative (dest is a partitioned table) or mode=tables (one table per partition, inheriting from dest)');
  }

  if (mode === 'tables' && table.mergeColumn !== null) {
    // The merged insert skips a key another source holds by looking it up in the table it
    // writes: a partition table, not the others (no unique index spans inheriting tables).
    fail(
      `mode=tables with a merge column (${pg.escapeIdentifier(table.mergeColumn)}): a key another source holds in another partition table would not be seen`,
      'use mode=declarative (dest partitioned by the column; several sources merge into it)',
    );
  }

  let scheme: Scheme;
  if (args.period !== undefined && args.hash !== undefined) {
    fail('arguments "period" and "hash" are both given', 'partition by time (period=...) or by hash (hash=<n>), not both');
  }
  if (args.period !== undefined) {
    if (!PERIODS.includes(args.period as Period)) fail(`argument "period" is "${args.period}"`, `period=${PERIODS.join('|')}`);
    if (args.period === 'hour' && args.timezone !== undefined && args.timezone !== 'UTC') {
      // A local hour can occur twice (or not at all) at a DST change, and some zones are off by half hours.
      fail('argument "timezone" is given with period=hour', 'hour partitions are UTC hours; leave timezone out');
    }
    if (args.timezone === '') fail('argument "timezone" is empty', 'a time zone name (timezone=UTC, timezone=Europe/Tallinn), or leave it out (UTC)');
    scheme = { kind: 'period', period: args.period as Period, timezone: args.timezone ?? 'UTC' };
  } else if (args.hash !== undefined) {
    const n = /^[0-9]{1,5}$/.test(args.hash) ? Number(args.hash) : NaN;
    if (!(n >= 1 && n <= MAX_MODULUS)) fail(`argument "hash" is "${args.hash}"`, `hash=<n>: the number of partitions, an integer from 1 to ${MAX_MODULUS}`);
    if (args.timezone !== undefined) fail('argument "timezone" is given with hash', 'timezone applies to period=... only; leave it out');
    scheme = { kind: 'hash', modulus: n };
  } else {
    scheme = fail('argument "period" or "hash" is missing', `give ${usage}`);
  }

  // PostgreSQL: a unique constraint of a partitioned table must include its partition key.
  if (mode === 'declarative' && !table.keyColumns.includes(column)) {
    fail(
      `mode=declarative partitions by ${pg.escapeIdentifier(column)}, which is not a key column (the key is ${table.keyColumns.map((c) => pg.escapeIdentifier(c)).join(', ')}): a partitioned table's primary key must include its partition column`,
      `add it to the key columns (add-table keyColumns ${[...table.keyColumns, column].join(',')}), or use mode=tables`,
    );
  }
  return { column: column, scheme: scheme!, mode: mode as PartitionSpec['mode'] };
}
