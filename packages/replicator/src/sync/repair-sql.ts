/**
 * A compare's fixes as an SQL script for review (Londiste's repair files), instead of
 * applying them: the rows of the differing keys deleted on the subscriber, and the
 * provider's rows of the missing and changed keys inserted with their values as literals in
 * their exact text forms (read and read back under the pinned value settings, which the
 * script sets). The fixes are right for the compared tick only: the script refuses to run
 * once the subscription has applied a later one (compare again then).
 */
import pg from 'pg';
import { VALUE_SETTINGS } from '@pgferry/queue';
import { deleteKeys, rowsWithKeys, type HashedTable } from './table-hash.js';

/** Rows per INSERT statement of the script. */
const ROWS_PER_INSERT = 500;

export interface RepairScriptInput {
  subscription: string;
  tick: string;
  /** The provider's table (read by `provider`, at the tick's snapshot, value settings pinned). */
  src: HashedTable;
  /** The subscriber's table. */
  dst: HashedTable;
  /** Keys whose rows come from the provider (missing and changed ones). */
  fromProvider: string[][];
  /** Keys whose subscriber rows go (extra and changed ones). */
  deleted: string[][];
}

/** The script (one transaction: psql -f, or any client's simple query). */
export async function repairScript(provider: pg.ClientBase, i: RepairScriptInput): Promise<string> {
  const lit = (v: string | null) => (v === null ? 'NULL' : pg.escapeLiteral(v));
  const cols = i.dst.columns.map((c) => pg.escapeIdentifier(c));
  const settings = Object.entries(VALUE_SETTINGS).map(([k, v]) => `(${lit(k)}, ${lit(v)})`);
  const out = [
    `-- pgferry compare: make ${i.dst.relation} on the subscriber equal to ${i.src.relation} on the provider`,
    `-- as of tick ${i.tick} of subscription ${i.subscription}: ${i.deleted.length} row(s) deleted, ${i.fromProvider.length} inserted.`,
    '-- Run it on the subscriber before the subscription applies a later tick (it refuses then: compare again).',
    'BEGIN;',
    `SELECT pg_catalog.set_config(s.name, s.value, true) FROM (VALUES ${settings.join(', ')}) AS s(name, value);`,
    "SELECT pg_catalog.set_config('pgferry.replica', 'on', true);",
    'DO $pgferry_repair$ BEGIN',
    `  IF (SELECT at_tick_id FROM pgferry.applied_tick WHERE at_subscription = ${lit(i.subscription)} FOR UPDATE) IS DISTINCT FROM ${lit(i.tick)}::pg_catalog.int8 THEN`,
    `    RAISE EXCEPTION 'subscription % is no longer at tick %: compare again', ${lit(i.subscription)}, ${lit(i.tick)};`,
    '  END IF;',
    'END $pgferry_repair$;',
  ];
  if (i.deleted.length) out.push(`${deleteKeys(i.dst, i.deleted)};`);
  if (i.fromProvider.length) {
    // Each value by its type's output function (concat), as capture and the copy print it.
    const text = i.src.columns.map((c, n) => `CASE WHEN r.${pg.escapeIdentifier(c)} IS NOT NULL THEN pg_catalog.concat(r.${pg.escapeIdentifier(c)}) END AS c${n}`);
    const { rows } = await provider.query<Record<string, string | null>>(`SELECT ${text.join(', ')} FROM (${rowsWithKeys(i.src, i.fromProvider)}) AS r`);
    for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
      const values = rows.slice(at, at + ROWS_PER_INSERT).map((r) => `(${i.src.columns.map((_, n) => lit(r[`c${n}`] ?? null)).join(', ')})`);
      out.push(`INSERT INTO ${i.dst.relation} (${cols.join(', ')}) VALUES\n  ${values.join(',\n  ')};`);
    }
  }
  out.push('COMMIT;', '');
  return out.join('\n');
}
