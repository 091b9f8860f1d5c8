/**
 * The aggregate handler ("remote materialized views"): the table's rows land as rows (the
 * row handler's table, `dest`) and a summary table on the subscriber keeps, per group, the
 * aggregates of those rows, in the batch's transaction (exactly once with the batch).
 *
 * Arguments:
 *   summary=<table>          the summary table (name or schema.name; unqualified: dest's
 *                            schema); created at add-table when missing
 *   group=<col>[,<col>...]   the group-by columns (replicated columns, NOT NULL on dest)
 *   aggregates=<agg>[,...]   default `count`; each `count` (rows: count(*)), or
 *                            `count:<col>` (non-null values), `sum:<col>`, `min:<col>`,
 *                            `max:<col>`, `avg:<col>`; output columns `count`, `count_<col>`,
 *                            `sum_<col>`, `min_<col>`, `max_<col>`, `avg_<col>`
 *
 * How: coalesced changes carry a key's new image only, not what the row held before, so
 * the summary is recomputed from dest rather than adjusted by deltas. Per batch (a few
 * statements whatever its size): read the groups the batch's keys are in before it, apply
 * the rows, then recompute exactly the groups touched (those, and those of the new
 * images): delete their summary rows and insert `SELECT group, aggregates FROM dest WHERE
 * group IN (...) GROUP BY group`. min and max stay right through deletes, any aggregate is
 * exact, a group left empty disappears. A TRUNCATE in the batch, and the end of the copy,
 * rebuild the whole summary.
 *
 * NULL groups: the group columns must be NOT NULL on dest (checked at add-table): the
 * summary's primary key is the group columns, and matching groups by "=" keeps the
 * lookups indexable. Recomputing a group reads its rows in dest: add-table creates an
 * index on dest's group columns unless one leads with them.
 */
import pg from 'pg';
import type { Queryable } from '@pgferry/queue';
import { ApplyError, HandlerArgsError } from '../errors.js';
import { sql } from '../sql.js';
import { readShapes, shapeFor, type DestColumn } from './dest-shape.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { checkKnownArgs, nameList, parseTableName, quoteTable, requiredArg, schemaOf } from './handler-args.js';
import { applyRows } from './row.js';
import { emptyApplyResult, type BatchScope, type HandlerArgs, type HandlerDefinition } from './types.js';

const NAME = 'aggregate';
const FUNCTIONS = ['count', 'sum', 'min', 'max', 'avg'] as const;
type AggregateFunction = (typeof FUNCTIONS)[number];

export interface Aggregate {
  fn: AggregateFunction;
  /** null: count(*). */
  column: string | null;
  /** Its column in the summary. */
  output: string;
}

/** A table's aggregate handler arguments, checked. */
export interface AggregateConfig {
  summary: { schema: string | null; name: string };
  group: string[];
  aggregates: Aggregate[];
}

function argsError(arg: string, message: string, hint: string): HandlerArgsError {
  return new HandlerArgsError(`handler "${NAME}": argument "${arg}": ${message}`, { hint });
}

/** Check the arguments against the table's replicated columns. */
export function parseAggregateArgs(table: Pick<SubscribedTable, 'source' | 'columns'>, args: HandlerArgs): AggregateConfig {
  checkKnownArgs(NAME, args, ['summary', 'group', 'aggregates']);
  const summary = parseTableName(NAME, 'summary', requiredArg(NAME, args, 'summary', '<table> (the summary table)'));
  const columnsHint = `replicated columns of ${table.source}: ${table.columns.join(', ')}`;
  const column = (arg: string, c: string) => {
    if (!table.columns.includes(c)) throw argsError(arg, `${table.source} has no replicated column "${c}"`, columnsHint);
    return c;
  };
  const group = nameList(NAME, 'group', requiredArg(NAME, args, 'group', '<column>[,<column>...]')).map((c) => column('group', c));
  const aggregates: Aggregate[] = nameList(NAME, 'aggregates', args.aggregates?.trim() || 'count').map((item) => {
    const [fn, col, ...rest] = item.split(':').map((s) => s.trim());
    if (!FUNCTIONS.includes(fn as AggregateFunction) || rest.length) {
      throw argsError('aggregates', `"${item}" is not an aggregate`, `write count, or count|sum|min|max|avg:<column>, separated by commas`);
    }
    if (col === undefined || col === '') {
      if (fn !== 'count') throw argsError('aggregates', `"${item}" names no column`, `write ${fn}:<column>`);
      return { fn: 'count', column: null, output: 'count' };
    }
    return { fn: fn as AggregateFunction, column: column('aggregates', col), output: `${fn}_${col}` };
  });
  const outputs = [...group, ...aggregates.map((a) => a.output)];
  const twice = outputs.filter((o, i) => outputs.indexOf(o) !== i);
  if (twice.length) {
    throw argsError(
      aggregates.some((a) => a.output === twice[0]) ? 'aggregates' : 'group',
      `the summary would have column "${twice[0]}" twice`,
      'name each group column and each aggregate once (an aggregate is named fn_column: rename the group column on the subscriber if they clash)',
    );
  }
  return { summary, group, aggregates };
}

/** The summary table of `dest` (quoted; an unqualified summary is in dest's schema). */
export function summaryTable(config: AggregateConfig, dest: string): string {
  return quoteTable(config.summary, schemaOf(dest));
}

interface Statements {
  /** $1: JSON array of row images; the groups their keys' rows are in, as a JSON array of group images. */
  groupsOfKeys: string;
  /** $1: JSON array of group images (any image holding the group columns). */
  deleteGroups: string;
  insertGroups: string;
  deleteAll: string;
  insertAll: string;
  /** The whole summary's rows, with the summary's column names. */
  selectAll: string;
}

const q = (c: string) => pg.escapeIdentifier(c);

/**
 * The statements of a table's summary, for dest's current shape (`columns`: as the batch
 * read them; read here when not given), null when dest does not exist.
 */
async function statements(client: Queryable, table: SubscribedTable, config: AggregateConfig, columns?: DestColumn[]): Promise<Statements | null> {
  columns ??= (await readShapes(client, [table.dest])).get(table.dest) ?? [];
  const shape = new Map(columns.map((c) => [c.name, c]));
  if (!shape.size) return null;
  const col = (c: string) => {
    const d = shape.get(c);
    if (!d) throw new ApplyError(table.dest, null, null, `the subscriber table has no column ${q(c)}`, { handler: NAME });
    return d;
  };
  // Images are JSON objects of column -> text form, read into the columns' types (json
  // types as text, then cast: see row.ts).
  const recordset = (cols: string[]) =>
    `pg_catalog.json_to_recordset($1::pg_catalog.json) AS s (${cols.map((c) => `${q(c)} ${col(c).json ? 'pg_catalog.text' : col(c).type}`).join(', ')})`;
  const value = (c: string) => (col(c).json ? `s.${q(c)}::${col(c).type}` : `s.${q(c)}`);
  const match = (alias: string, cols: string[]) => cols.map((c) => `${alias}.${q(c)} OPERATOR(${col(c).eq_schema}.=) ${value(c)}`).join(' AND ');
  const dest = table.dest;
  const summary = summaryTable(config, dest);
  const g = config.group;
  const groupBy = g.map((c) => `d.${q(c)}`).join(', ');
  const aggs = config.aggregates.map((a) => `${a.column === null ? 'pg_catalog.count(*)' : `pg_catalog.${a.fn}(d.${q(a.column)})`} AS ${q(a.output)}`);
  const into = `${summary} (${[...g, ...config.aggregates.map((a) => a.output)].map(q).join(', ')})`;
  const select = `SELECT ${groupBy}, ${aggs.join(', ')} FROM ${dest} AS d`;
  return {
    groupsOfKeys:
      `SELECT COALESCE(pg_catalog.json_agg(g.*), '[]')::pg_catalog.text AS groups FROM (` +
      `SELECT DISTINCT ${g.map((c) => `d.${q(c)}::pg_catalog.text AS ${q(c)}`).join(', ')} FROM ${dest} AS d ` +
      `WHERE EXISTS (SELECT FROM ${recordset(table.keyColumns)} WHERE ${match('d', table.keyColumns)})) AS g`,
    deleteGroups: `DELETE FROM ${summary} AS m WHERE EXISTS (SELECT FROM ${recordset(g)} WHERE ${match('m', g)})`,
    // Group by group (LATERAL, through dest's index on the group columns): as a join, the
    // planner takes the JSON for 100 rows whatever it holds, and scans all of dest.
    insertGroups:
      `INSERT INTO ${into} SELECT ${g.map((c) => `a.${q(c)}`).join(', ')}, ${config.aggregates.map((a) => `x.${q(a.output)}`).join(', ')} ` +
      `FROM (SELECT DISTINCT ${g.map((c) => `${value(c)} AS ${q(c)}`).join(', ')} FROM ${recordset(g)}) AS a ` +
      `CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS pgferry_rows, ${aggs.join(', ')} FROM ${dest} AS d ` +
      `WHERE ${g.map((c) => `d.${q(c)} OPERATOR(${col(c).eq_schema}.=) a.${q(c)}`).join(' AND ')}) AS x WHERE x.pgferry_rows > 0`,
    deleteAll: `DELETE FROM ${summary}`,
    insertAll: `INSERT INTO ${into} ${select} GROUP BY ${groupBy}`,
    selectAll: `${select} GROUP BY ${groupBy}`,
  };
}

/** The statements, read once per batch (a table altered meanwhile is seen by the next batch). */
function batchStatements(client: Queryable, scope: BatchScope, table: SubscribedTable, config: AggregateConfig): Promise<Statements> {
  return scope.memo(`aggregate:${JSON.stringify([table.dest, table.keyColumns, config])}`, async () => {
    const st = await statements(client, table, config, await shapeFor(client, scope, table.dest));
    if (!st) throw new ApplyError(table.dest, null, null, `relation "${table.dest}" does not exist`, { handler: NAME });
    return st;
  });
}

async function rebuild(client: Queryable, st: Statements): Promise<void> {
  await client.query(st.deleteAll);
  await client.query(st.insertAll);
}

/** JSON arrays (as text) joined into one. */
function joinArrays(arrays: string[]): string {
  const items = arrays.map((a) => a.trim().slice(1, -1).trim()).filter((a) => a !== '');
  return `[${items.join(',')}]`;
}

export const aggregateHandler: HandlerDefinition = {
  name: NAME,
  description: 'rows into dest, and per group of rows their count/sum/min/max/avg in a summary table, kept up to date',
  create(table, args) {
    const config = parseAggregateArgs(table, args);
    return {
      async apply(ctx, changes) {
        const st = await batchStatements(ctx.client, ctx.scope, table, config);
        if (changes.truncate) {
          const r = await applyRows(ctx.client, ctx.scope, table, changes);
          await rebuild(ctx.client, st);
          ctx.log('info', `TRUNCATE: summary ${summaryTable(config, table.dest)} rebuilt`);
          return r;
        }
        if (!changes.keys.size) return emptyApplyResult();
        const keys = [...changes.keys.values()];
        // Before the rows change: the groups the batch's keys are in now.
        const before = await ctx.client.query<{ groups: string }>(st.groupsOfKeys, [`[${keys.map((c) => c.image ?? c.lastImage).join(',')}]`]);
        const r = await applyRows(ctx.client, ctx.scope, table, changes);
        const after = keys.filter((c) => c.image !== null).map((c) => c.image!);
        const groups = joinArrays([before.rows[0]!.groups, `[${after.join(',')}]`]);
        if (groups === '[]') return r; // keys inserted and deleted within the batch only
        await ctx.client.query(st.deleteGroups, [groups]);
        await ctx.client.query(st.insertGroups, [groups]);
        return r;
      },
      copy: {
        async begin(ctx) {
          await ctx.client.query(`TRUNCATE ${table.dest}`);
          return table.dest;
        },
        async end(ctx) {
          const st = await statements(ctx.client, table, config);
          if (!st) throw new ApplyError(table.dest, null, null, `relation "${table.dest}" does not exist`, { handler: NAME });
          await rebuild(ctx.client, st);
        },
      },
    };
  },
  async prepare(client, table, args) {
    const config = parseAggregateArgs(table, args);
    const destCols = (await client.query<{ name: string; not_null: boolean }>(sql('table_columns'), [table.dest])).rows;
    const nullable = config.group.filter((c) => !destCols.find((d) => d.name === c)?.not_null);
    if (nullable.length) {
      throw argsError('group', `group column(s) ${nullable.map((c) => `"${c}"`).join(', ')} of ${table.dest} may be NULL`,
        `declare them NOT NULL on the subscriber table (and the provider's): a summary row is identified by its group values`);
    }
    const summary = summaryTable(config, table.dest);
    const found = (await client.query<{ name: string }>(sql('table_info'), [summary])).rows[0];
    const outputs = [...config.group, ...config.aggregates.map((a) => a.output)];
    if (found) {
      const destInfo = (await client.query<{ name: string }>(sql('table_info'), [table.dest])).rows[0];
      if (found.name === destInfo?.name) throw argsError('summary', `the summary cannot be the replicated table ${table.dest}`, 'name another table');
      const have = new Set((await client.query<{ name: string }>(sql('table_columns'), [summary])).rows.map((c) => c.name));
      const missing = outputs.filter((o) => !have.has(o));
      if (missing.length) {
        throw argsError('summary', `table ${found.name} exists without column(s) ${missing.map((c) => `"${c}"`).join(', ')}`,
          'drop it to have it created, or name another summary table');
      }
    } else {
      const st = (await statements(client, table, config))!;
      // The aggregates' own result types (count bigint, sum's and avg's by the column's type, min/max the column's).
      // (A failure aborts the registering transaction: add-table rolls it back.)
      try {
        await client.query(`CREATE TABLE ${summary} AS ${st.selectAll} WITH NO DATA`);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        if (e.code === '42883') throw argsError('aggregates', String(e.message), `an aggregate does not apply to its column's type`);
        throw argsError('summary', `cannot create ${summary}: ${e.message}`, 'create it yourself, or name another table');
      }
      await client.query(`ALTER TABLE ${summary} ADD PRIMARY KEY (${config.group.map(q).join(', ')})`);
    }
    // Recomputing a group reads its rows: an index leading with the group columns keeps that small.
    const indexes = (await client.query<{ columns: (string | null)[] }>(sql('index_columns'), [table.dest])).rows;
    const leads = indexes.some((i) => {
      const lead = new Set(i.columns.slice(0, config.group.length));
      return config.group.every((c) => lead.has(c));
    });
    if (!leads) await client.query(`CREATE INDEX ON ${table.dest} (${config.group.map(q).join(', ')})`);
  },
};
