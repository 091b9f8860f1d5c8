/**
 * What add-table checks before it changes anything: everything that, once accepted, would
 * make the table's copy or its apply fail on every attempt (the table stuck in-copy, or the
 * stream stopped) and can be seen from the two tables' definitions.
 *
 * The key. The apply matches rows by the key columns (`d.k = s.k`) and coalesces a batch's
 * changes per key, so the key must identify one row on both sides: NOT NULL on the provider
 * (a NULL never matches, and NULL keys of different rows would be merged) and on the
 * subscriber, and on the subscriber a primary key or unique index on key columns (without
 * it an insert of an existing key duplicates the row silently, and an update or delete
 * touches every row of that key). The provider's key is trusted to be unique in its data
 * (the subscriber's unique index turns a violation into a visible apply error).
 */
import pg from 'pg';
import { withClient, type Queryable } from '@pgferry/queue';
import { ReplicationSetupError } from '../errors.js';
import { sql } from '../sql.js';

export interface ColumnRow {
  name: string;
  type: string;
  not_null: boolean;
  /** An insert that leaves the column out gets a value (default, identity, generated). */
  has_default: boolean;
  generated: boolean;
  /** 'a': GENERATED ALWAYS AS IDENTITY, 'd': BY DEFAULT, '': not an identity column. */
  identity: string;
}

export interface TableShape {
  name: string;
  kind: string;
  columns: ColumnRow[];
}

interface TypeDefinition {
  name: string;
  exists: boolean;
  enum_labels: string[] | null;
  definition: string | null;
}

const KINDS: Record<string, string> = { v: 'a view', m: 'a materialized view', f: 'a foreign table', S: 'a sequence', c: 'a type' };

/** A list option naming a column twice (COPY and INSERT refuse a column given twice). */
export function checkNoDuplicates(table: string, what: string, names: readonly string[] | undefined): void {
  const seen = new Set<string>();
  const twice = new Set((names ?? []).filter((n) => seen.has(n) || !seen.add(n)));
  if (twice.size) {
    throw new ReplicationSetupError(`${what} of ${table} name ${[...twice].map((c) => `"${c}"`).join(', ')} twice`, {
      hint: 'name each column once',
    });
  }
}

/** The provider's key columns must be NOT NULL. */
export function checkProviderKey(src: TableShape, keys: readonly string[]): void {
  const nullable = keys.filter((k) => !src.columns.find((c) => c.name === k)!.not_null);
  if (nullable.length) {
    throw new ReplicationSetupError(
      `key column${nullable.length > 1 ? 's' : ''} ${nullable.map((c) => `"${c}"`).join(', ')} of ${src.name} on the provider ${nullable.length > 1 ? 'are' : 'is'} nullable: a key must identify one row`,
      { hint: `make ${nullable.length > 1 ? 'them' : 'it'} NOT NULL (ALTER TABLE ${src.name} ALTER COLUMN ... SET NOT NULL), or choose NOT NULL key columns` },
    );
  }
}

async function typeDefinitions(db: Queryable, types: string[]): Promise<Map<string, TypeDefinition>> {
  const { rows } = await db.query<TypeDefinition>(sql('type_definitions'), [types]);
  return new Map(rows.map((r) => [r.name, r]));
}

/**
 * The replicated columns' types, as the subscriber has them: a user-defined type must exist
 * there with the same definition (an enum: at least the provider's labels), or copying and
 * applying its values fails. Problems, one per column.
 */
async function typeProblems(provider: Queryable, subscriber: Queryable, cols: ColumnRow[]): Promise<string[]> {
  const types = [...new Set(cols.map((c) => c.type))];
  const [p, s] = await Promise.all([typeDefinitions(provider, types), typeDefinitions(subscriber, types)]);
  const problems: string[] = [];
  for (const c of cols) {
    const pt = p.get(c.type);
    const st = s.get(c.type);
    if (!st?.exists) {
      problems.push(`column "${c.name}": type ${c.type} does not exist on the subscriber (create it there as on the provider)`);
      continue;
    }
    if (pt?.enum_labels) {
      const missing = pt.enum_labels.filter((l) => !(st.enum_labels ?? []).includes(l));
      if (missing.length) {
        problems.push(
          `column "${c.name}": enum ${c.type} lacks label${missing.length > 1 ? 's' : ''} ${missing.map((l) => `'${l}'`).join(', ')} on the subscriber (ALTER TYPE ... ADD VALUE there)`,
        );
      }
    } else if ((pt?.definition ?? null) !== (st.definition ?? null)) {
      problems.push(
        `column "${c.name}": type ${c.type} is ${st.definition ?? 'another type'} on the subscriber but ${pt?.definition ?? 'a built-in type'} on the provider (make the definitions the same)`,
      );
    }
  }
  return problems;
}

/**
 * A subscriber table that exists: it must be a table, have every replicated column with the
 * provider's type, writable by the apply (not generated, not identity ALWAYS), give a value
 * to every column it does not receive, and identify rows by the key (see above).
 */
export async function checkSubscriberTable(
  provider: Queryable,
  subscriber: Queryable,
  src: TableShape,
  dst: TableShape,
  columns: readonly string[],
  keys: readonly string[],
  mergeColumn: string | null = null,
): Promise<void> {
  if (dst.kind !== 'r' && dst.kind !== 'p') {
    throw new ReplicationSetupError(`"${dst.name}" on the subscriber is ${KINDS[dst.kind] ?? 'not a table'}, not a table`, {
      hint: 'replicate into a table (--dest another name, or --create)',
    });
  }
  const srcCols = new Map(src.columns.map((c) => [c.name, c]));
  const dstCols = new Map(dst.columns.map((c) => [c.name, c]));
  const problems: string[] = [];
  const sameType: ColumnRow[] = [];
  for (const c of columns) {
    const d = dstCols.get(c);
    const s = srcCols.get(c)!;
    if (!d) problems.push(`column "${c}" is missing`);
    else if (d.type !== s.type) problems.push(`column "${c}" is ${d.type} on the subscriber but ${s.type} on the provider`);
    else sameType.push(s);
    if (d?.generated) {
      problems.push(
        `column "${c}" is GENERATED ALWAYS AS (...) STORED on the subscriber, and the replicator writes it: make it a plain column there, or leave it out of the replicated columns (--columns, --ignore)`,
      );
    } else if (d?.identity === 'a') {
      problems.push(
        `column "${c}" is GENERATED ALWAYS AS IDENTITY on the subscriber, and the replicator writes the provider's values: ALTER TABLE ${dst.name} ALTER COLUMN "${c}" SET GENERATED BY DEFAULT`,
      );
    }
    if (d && keys.includes(c) && !d.not_null) problems.push(`key column "${c}" is nullable on the subscriber (make it NOT NULL)`);
  }
  for (const d of dst.columns) {
    if (!columns.includes(d.name) && d.name !== mergeColumn && d.not_null && !d.has_default) problems.push(`column "${d.name}" is NOT NULL without a default and not replicated`);
  }
  if (mergeColumn !== null) {
    const m = dstCols.get(mergeColumn);
    if (!m) problems.push(`merge column "${mergeColumn}" is missing (add it: ALTER TABLE ${dst.name} ADD COLUMN "${mergeColumn}" text NOT NULL)`);
    else if (m.type !== 'text') problems.push(`merge column "${mergeColumn}" is ${m.type}, not text`);
    else if (m.generated || m.identity) problems.push(`merge column "${mergeColumn}" is generated: the replicator writes the source's name into it`);
  }
  problems.push(...(await typeProblems(provider, subscriber, sameType)));
  if (problems.length === 0) {
    // The apply's own row match (apply.ts), planned, not run: a key type without "=" (json,
    // point, ...) fails every update and delete.
    const match = keys.map((k) => `d.${pg.escapeIdentifier(k)} = s.${pg.escapeIdentifier(k)}`).join(' AND ');
    await subscriber
      .query(`EXPLAIN SELECT FROM ${dst.name} AS d, pg_catalog.json_populate_recordset(NULL::${dst.name}, '[]') AS s WHERE ${match}`)
      .catch((err: unknown) => problems.push(`the key columns cannot be compared (${(err as Error).message}): choose key columns of types with "="`));
  }
  if (problems.length === 0) {
    // A merged table may add its merge column (a table LIST-partitioned by it must): the
    // apply matches each source's rows by key and source, and looks for other sources' rows
    // of the key itself.
    const { rows } = await subscriber.query<{ columns: string[] }>(sql('unique_keys'), [dst.name]);
    if (!rows.some((u) => u.columns.every((c) => keys.includes(c) || c === mergeColumn))) {
      problems.push(
        `no primary key or unique index on key columns (${keys.map((k) => `"${k}"`).join(', ')}${mergeColumn === null ? '' : `, and the merge column "${mergeColumn}"`}): the apply finds rows by key (add one: ALTER TABLE ${dst.name} ADD PRIMARY KEY (...))`,
      );
    }
  }
  if (problems.length) {
    throw new ReplicationSetupError(`subscriber table ${dst.name} does not match ${src.name}: ${problems.join('; ')}`, {
      hint: 'fix the subscriber table (or let add-table create it: a --dest that does not exist, with --create)',
    });
  }
}

/**
 * A subscriber table to be created: its schema and its columns' types must exist there.
 * Returns its name with every part quoted, for CREATE TABLE.
 */
export async function checkCreatable(
  provider: Queryable,
  subscriber: Queryable,
  src: TableShape,
  dest: string,
  columns: readonly string[],
): Promise<string> {
  const { rows } = await subscriber.query<{ name: string; schema_exists: boolean }>(sql('dest_name'), [dest]).catch((err: unknown) => {
    throw new ReplicationSetupError(`invalid table name "${dest}": ${(err as Error).message}`, { cause: err });
  });
  if (!rows[0]?.schema_exists) {
    throw new ReplicationSetupError(`the schema of "${dest}" does not exist on the subscriber`, { hint: 'create it first (CREATE SCHEMA)' });
  }
  const problems = await typeProblems(provider, subscriber, src.columns.filter((c) => columns.includes(c.name)));
  if (problems.length) {
    throw new ReplicationSetupError(`cannot create ${dest} on the subscriber like ${src.name}: ${problems.join('; ')}`);
  }
  return rows[0].name;
}

/**
 * Create the table as add-table will, and roll it back: whatever the server refuses (a key
 * type without a btree operator class, a name it cannot take, ...) is refused here, before
 * the provider captures anything.
 */
export async function checkCreateRuns(subscriber: pg.Pool, dest: string, createSql: string): Promise<void> {
  await withClient(subscriber, async (client) => {
    try {
      await client.query('BEGIN');
      await client.query(createSql).catch((err: unknown) => {
        throw new ReplicationSetupError(`cannot create ${dest} on the subscriber: ${(err as Error).message}`, { cause: err });
      });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  });
}

/** pgferry's own tables: capturing them loops, copying into them destroys the metadata. */
export function checkNotPgferry(side: 'provider' | 'subscriber', table: string): void {
  if (table.startsWith('pgferry.')) {
    throw new ReplicationSetupError(`${table} on the ${side} is one of pgferry's own tables`, { hint: 'replicate application tables only' });
  }
}

/**
 * One table written by two subscriptions: allowed only when every one of them writes its
 * source into the same merge column (federation); otherwise each copy would empty it, wiping
 * the other's rows.
 */
export async function checkDestFree(subscriber: Queryable, subscription: string, dest: string, mergeColumn: string | null = null): Promise<void> {
  const { rows } = await subscriber.query<{ subscription: string; source: string; merge_column: string | null }>(sql('dest_subscriptions'), [
    subscription,
    dest,
  ]);
  const other = rows.find((r) => mergeColumn === null || r.merge_column !== mergeColumn);
  if (!other) return;
  if (mergeColumn === null || other.merge_column === null) {
    throw new ReplicationSetupError(
      `table ${dest} on the subscriber is written by subscription "${other.subscription}" already (from ${other.source})${
        other.merge_column === null ? '' : ` with merge column "${other.merge_column}"`
      }: ${mergeColumn === null && other.merge_column === null ? 'a copy into it would empty it' : 'a merged table is written by merging subscriptions only'}`,
      {
        hint:
          other.merge_column !== null
            ? `add it with the same merge column (--merge-column ${other.merge_column}), or replicate into another table (--dest)`
            : 'replicate into another table (--dest); to merge several sources into one table, every subscription writing it needs the same --merge-column',
      },
    );
  }
  throw new ReplicationSetupError(
    `table ${dest} on the subscriber is merged by subscription "${other.subscription}" with merge column "${other.merge_column}", not "${mergeColumn}"`,
    { hint: `use --merge-column ${other.merge_column}` },
  );
}
