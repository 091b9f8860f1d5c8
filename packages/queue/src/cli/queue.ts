/** queue create | drop | config | list | status | ticks */
import { Command } from 'commander';
import {
  createQueue,
  dropQueue,
  getQueueInfo,
  listTicks,
  setQueueConfig,
  type QueueConfig,
  type QueueInfo,
} from '../admin.js';
import { getQueueStatus } from '../status.js';
import { InvalidStateError } from '@pgferry/sql';
import { inTransaction, withClient } from '../runtime/index.js';
import { formatBytes, formatDuration, renderPairs } from './format.js';
import { action, examples, parseInteger, CliError, EXIT } from './options.js';
import { consumerColumns } from './consumer.js';
import type { Column } from './format.js';

const SETTINGS_HELP = `
Settings (key=value): ticker_max_count, ticker_max_lag, ticker_idle_period, ticker_paused,
external_ticker, rotation_period, max_retries, disable_insert, ntables (the number of event
tables: it can only grow, the new tables join the rotation when it wraps around). Intervals
are PostgreSQL intervals ('3 seconds', '2 hours').`;

/** key=value pairs into a QueueConfig (the SQL layer checks keys and values). */
export function parseSettings(pairs: string[]): QueueConfig {
  const config: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`setting "${p}" is not key=value`, EXIT.USAGE);
    config[p.slice(0, i).trim().replace(/^queue_/, '')] = p.slice(i + 1).trim();
  }
  return config as QueueConfig;
}

export const queueColumns: Column<QueueInfo>[] = [
  { header: 'QUEUE', value: (q) => q.queueName },
  { header: 'CONSUMERS', value: (q) => q.consumers },
  { header: 'EVENTS', value: (q) => q.eventSeq },
  { header: 'NOT TICKED', value: (q) => q.eventsSinceTick },
  { header: 'TICKER LAG', value: (q) => formatDuration(q.tickerLagSeconds), align: 'right' },
  { header: 'LAST TICK', value: (q) => q.lastTickId, align: 'right' },
  { header: 'TABLE', value: (q) => `${q.curTable}/${q.ntables}`, align: 'right' },
  { header: 'ROTATED', value: (q) => `${formatDuration((Date.now() - q.switchTime.getTime()) / 1000)} ago`, align: 'right' },
  { header: 'RETRY', value: (q) => q.retryPending },
  { header: 'DEAD', value: (q) => q.deadLetters },
  { header: 'ROTATION BLOCKED BY', value: (q) => rotationBlockedBy(q) },
];

/** The rotation blocker in a few words: "consumer: c", "snapshot: pid 123", "ticker", "nothing (not due)". */
export function rotationBlockedBy(q: QueueInfo): string {
  if (q.statusError) return `? (${q.statusError})`;
  const b = q.rotationBlocker;
  if (b.kind === null) return 'nothing (due)';
  if (b.kind === 'not_due') return 'nothing (not due)';
  // 'ticker' and 'maintenance' name themselves.
  return !q.rotationBlockedBy || q.rotationBlockedBy === b.kind ? b.kind : `${b.kind}: ${q.rotationBlockedBy}`;
}

function configPairs(q: QueueInfo): [string, unknown][] {
  return [
    ['ticker_max_count', q.tickerMaxCount],
    ['ticker_max_lag', formatDuration(q.tickerMaxLagSeconds)],
    ['ticker_idle_period', formatDuration(q.tickerIdlePeriodSeconds)],
    ['ticker_paused', q.tickerPaused],
    ['external_ticker', q.externalTicker],
    ['rotation_period', formatDuration(q.rotationPeriodSeconds)],
    ['max_retries', q.maxRetries],
    ['disable_insert', q.disableInsert],
  ];
}

function configJson(q: QueueInfo) {
  return {
    queue: q.queueName,
    ntables: q.ntables,
    ticker_max_count: q.tickerMaxCount,
    ticker_max_lag_seconds: q.tickerMaxLagSeconds,
    ticker_idle_period_seconds: q.tickerIdlePeriodSeconds,
    ticker_paused: q.tickerPaused,
    external_ticker: q.externalTicker,
    rotation_period_seconds: q.rotationPeriodSeconds,
    max_retries: q.maxRetries,
    disable_insert: q.disableInsert,
  };
}

export function queueCommands(program: Command): void {
  const queue = program.command('queue').description('create, drop, configure and inspect queues');

  examples(
    queue
      .command('create')
      .description('create a queue (no error if it exists)')
      .argument('<queue>', 'queue name')
      .argument('[settings...]', 'settings as key=value')
      .option('--tables <n>', 'number of rotating event tables (2..32)', parseInteger, 3)
      .addHelpText('after', SETTINGS_HELP)
      .action(
        action(async (ctx, name: string, settings: string[], opts: { tables: number }) => {
          const config = parseSettings(settings);
          // One transaction: a refused setting leaves no queue behind.
          const rows = await ctx.rows((pool) =>
            withClient(pool, (c) =>
              inTransaction(c, async () => [{ queue: name, created: await createQueue(c, name, { tables: opts.tables, config }) }]),
            ),
          );
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            ctx.say(`${r.database ? `${r.database}: ` : ''}queue "${name}" ${r.created ? 'created' : 'exists already'}`);
          }
        }),
      ),
    ['pgferry queue create orders', "pgferry queue create clicks --tables 4 ticker_max_lag='500 milliseconds' max_retries=10"],
  );

  examples(
    queue
      .command('drop')
      .description('drop a queue with its events (refused while consumers are registered, unless --force)')
      .argument('<queue>', 'queue name')
      .option('--force', 'drop even with registered consumers')
      .action(
        action(async (ctx, name: string, opts: { force?: boolean }) => {
          const rows = await ctx.rows(async (pool) => {
            try {
              await dropQueue(pool, name, { force: opts.force });
            } catch (err) {
              // The SQL hint speaks of force => true: say it the CLI's way.
              if (err instanceof InvalidStateError) throw new CliError(`${err.message.replace(/ \(.*\)$/, '')}: unregister them first, or add --force`);
              throw err;
            }
            return [{ queue: name, dropped: true }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) ctx.say(`${r.database ? `${r.database}: ` : ''}queue "${name}" dropped`);
        }),
      ),
    ['pgferry queue drop orders', 'pgferry queue drop orders --force'],
  );

  examples(
    queue
      .command('config')
      .description('show a queue\'s settings, or change them with key=value arguments')
      .argument('<queue>', 'queue name')
      .argument('[settings...]', 'settings to change, as key=value')
      .addHelpText('after', SETTINGS_HELP)
      .action(
        action(async (ctx, name: string, settings: string[]) => {
          const config = parseSettings(settings);
          // The change and its read-back in one transaction: a command that reports an error
          // has changed nothing.
          const rows = await ctx.rows((pool) =>
            withClient(pool, (c) =>
              inTransaction(c, async () => {
                await setQueueConfig(c, name, config);
                return getQueueInfo(c, name);
              }),
            ),
          );
          if (ctx.json) return ctx.printJson(ctx.multi ? rows.map((r) => ({ database: r.database, ...configJson(r) })) : configJson(rows[0]!));
          for (const r of rows) {
            if (r.database) ctx.say(`${r.database}:`);
            ctx.say(renderPairs(configPairs(r)));
          }
        }),
      ),
    ['pgferry queue config orders', "pgferry queue config orders ticker_max_lag='1 second' rotation_period='30 minutes'"],
  );

  examples(
    queue
      .command('list')
      .description('list queues with their event counter, ticker lag, rotation and dead letters')
      .action(
        action(async (ctx) => {
          const rows = await ctx.rows((pool) => getQueueInfo(pool));
          ctx.printRows(rows, queueColumns, '(no queues)');
        }),
      ),
    ['pgferry queue list', 'pgferry queue list --json --db postgres://db1/app --db postgres://db2/app'],
  );

  examples(
    queue
      .command('status')
      .description('details of a queue (or every queue): settings, ticker, rotation, consumers')
      .argument('[queue]', 'queue name (default: all)')
      .action(
        action(async (ctx, name: string | undefined) => {
          const rows = await ctx.rows((pool) => getQueueStatus(pool, name));
          if (ctx.json) return ctx.printJson(name && !ctx.multi ? rows[0] : rows);
          if (rows.length === 0) return ctx.say('(no queues)');
          rows.forEach((q, i) => {
            if (i > 0) ctx.say('');
            ctx.say(
              renderPairs([
                ...(q.database ? ([['database', q.database]] as [string, unknown][]) : []),
                ['queue', q.queueName],
                ['events inserted', q.eventSeq],
                ['events not ticked', q.eventsSinceTick],
                ['last tick', q.lastTickId],
                ['ticker lag', formatDuration(q.tickerLagSeconds)],
                ['event tables', `${q.ntables} (current: ${q.curTable})${q.eventTables ? `, ${formatBytes(q.eventTables.reduce((n, t) => n + t.bytes, 0))}` : ''}`],
                ['last rotation', q.switchTime],
                ['rotation blocked by', rotationBlockedBy(q)],
                ...(q.rotationBlocker.detail ? ([['rotation', q.rotationBlocker.detail]] as [string, unknown][]) : []),
                ...(q.rotationBlocker.hint ? ([['what to do', q.rotationBlocker.hint]] as [string, unknown][]) : []),
                ...(q.statusError ? ([['status error', q.statusError]] as [string, unknown][]) : []),
                ['retry pending', q.retryPending],
                ['dead letters', q.deadLetters],
                ...configPairs(q),
              ]),
            );
            ctx.say('');
            ctx.printRows(q.consumerList, consumerColumns.slice(1), '(no consumers)');
          });
        }),
      ),
    ['pgferry queue status orders', 'pgferry queue status --json'],
  );

  examples(
    queue
      .command('ticks')
      .description('list a queue\'s ticks, newest first, and whether a consumer can still start from each')
      .argument('<queue>', 'queue name')
      .option('-n, --limit <n>', 'how many', parseInteger, 20)
      .action(
        action(async (ctx, name: string, opts: { limit: number }) => {
          const rows = await ctx.rows((pool) => listTicks(pool, name, { limit: opts.limit }));
          ctx.printRows(rows, [
            { header: 'TICK', value: (t) => t.tickId, align: 'right' },
            { header: 'TIME', value: (t) => t.time },
            { header: 'EVENT SEQ', value: (t) => t.eventSeq },
            { header: 'AVAILABLE', value: (t) => t.available },
          ]);
        }),
      ),
    ['pgferry queue ticks orders -n 5'],
  );
}
