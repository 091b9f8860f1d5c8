/** The built-in handlers' arguments, as add-table checks them before anything changes. */
import { describe, expect, it } from 'vitest';
import { HandlerArgsError } from '../src/errors.js';
import { parseTableName, quoteTable, schemaOf } from '../src/handlers/handler-args.js';
import { parseAggregateArgs, summaryTable } from '../src/handlers/aggregate.js';
import { parseRequeueArgs } from '../src/handlers/requeue.js';

const table = { source: 'public.sales', columns: ['id', 'Region', 'amount', 'ts'] };

describe('table names in handler arguments', () => {
  it('reads them as SQL does: unquoted folded to lower case, quoted kept', () => {
    expect(parseTableName('h', 'a', 'Sales')).toEqual({ schema: null, name: 'sales' });
    expect(parseTableName('h', 'a', 'rep."Odd ""Name"""')).toEqual({ schema: 'rep', name: 'Odd "Name"' });
    expect(quoteTable({ schema: null, name: 'Odd "Name"' }, 'my schema')).toBe('"my schema"."Odd ""Name"""');
    expect(schemaOf('"My Schema".t')).toBe('My Schema');
  });

  it('refuses what is not a name, naming the argument', () => {
    for (const bad of ['a.b.c', '"unterminated', '""', 'a;b', 'a.', '1abc', '']) {
      expect(() => parseTableName('aggregate', 'summary', bad), bad).toThrow(HandlerArgsError);
      expect(() => parseTableName('aggregate', 'summary', bad), bad).toThrow(/argument "summary"/);
    }
  });
});

describe('aggregate arguments', () => {
  it('names the outputs count and fn_column; the summary goes to dest\'s schema unless qualified', () => {
    const c = parseAggregateArgs(table, { summary: 'by_region', group: 'Region', aggregates: 'count, count:amount,sum:amount, min:ts,max:ts,avg:amount' });
    expect(c.group).toEqual(['Region']);
    expect(c.aggregates.map((a) => a.output)).toEqual(['count', 'count_amount', 'sum_amount', 'min_ts', 'max_ts', 'avg_amount']);
    expect(summaryTable(c, '"Shop".sales')).toBe('"Shop"."by_region"');
    expect(summaryTable(parseAggregateArgs(table, { summary: 'x.y', group: 'id' }), 'public.sales')).toBe('"x"."y"');
    expect(parseAggregateArgs(table, { summary: 's', group: 'id' }).aggregates).toEqual([{ fn: 'count', column: null, output: 'count' }]);
  });

  it('refuses bad arguments, naming the argument', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ group: 'id' }, /argument "summary" is missing/],
      [{ summary: 's' }, /argument "group" is missing/],
      [{ summary: 's', group: 'region' }, /argument "group": public.sales has no replicated column "region"/],
      [{ summary: 's', group: 'id,,amount' }, /argument "group" has an empty name/],
      [{ summary: 's', group: 'id', aggregates: 'sum:amount:x' }, /argument "aggregates": "sum:amount:x" is not an aggregate/],
      [{ summary: 's', group: 'id', aggregates: 'max' }, /argument "aggregates": "max" names no column/],
      [{ summary: 's', group: 'id,id' }, /argument "group": the summary would have column "id" twice/],
      [{ summary: 's', group: 'id', other: '1' }, /unknown argument "other"/],
    ];
    for (const [args, message] of cases) {
      expect(() => parseAggregateArgs(table, args), JSON.stringify(args)).toThrow(message);
      expect(() => parseAggregateArgs(table, args)).toThrow(HandlerArgsError);
    }
  });
});

describe('requeue arguments', () => {
  it('takes a queue and what to do with the copied rows', () => {
    expect(parseRequeueArgs({ queue: 'local' })).toEqual({ queue: 'local', initial: 'rows' });
    expect(parseRequeueArgs({ queue: 'local', initial: 'none' })).toEqual({ queue: 'local', initial: 'none' });
    expect(() => parseRequeueArgs({ queue: ' ' })).toThrow(/argument "queue" is missing/);
    expect(() => parseRequeueArgs({ queue: 'q', initial: 'some' })).toThrow(/argument "initial"/);
  });
});
