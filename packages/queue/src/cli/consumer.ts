/** consumer register | unregister | list | lag | rewind */
import { Command } from 'commander';
import type pg from 'pg';
import {
  findTickAt,
  getConsumerInfo,
  listTicks,
  oldestAvailableTick,
  registerConsumer,
  registerConsumerAt,
  unregisterConsumer,
  type ConsumerInfo,
  type TickRow,
} from '../admin.js';
import { formatDuration, formatTime, type Column } from './format.js';
import { action, examples, parseNonNegative, parseTickId, parseTimestamp, CliError, EXIT } from './options.js';

export const consumerColumns: Column<ConsumerInfo>[] = [
  { header: 'QUEUE', value: (c) => c.queueName },
  { header: 'CONSUMER', value: (c) => c.consumerName },
  { header: 'LAG', value: (c) => formatDuration(c.lagSeconds), align: 'right' },
  { header: 'PENDING AGE', value: (c) => formatDuration(c.pendingAgeSeconds), align: 'right' },
  { header: 'PENDING', value: (c) => c.pendingEvents },
  { header: 'TICKS BEHIND', value: (c) => c.ticksBehind },
  { header: 'LAST TICK', value: (c) => c.lastTick, align: 'right' },
  { header: 'LAST SEEN', value: (c) => `${formatDuration(c.lastSeenSeconds)} ago`, align: 'right' },
  { header: 'BATCH', value: (c) => c.currentBatch, align: 'right' },
  { header: 'RETRY', value: (c) => c.retryPending },
  { header: 'DEAD', value: (c) => c.deadLetters },
];

function describeTick(t: TickRow): string {
  return `tick ${t.tickId} (${formatTime(t.time)})`;
}

/** Why a tick cannot be started from, and where the queue's history begins now. */
async function noLongerHeld(pool: pg.Pool, queue: string, what: string): Promise<CliError> {
  const oldest = await oldestAvailableTick(pool, queue);
  return new CliError(
    `queue "${queue}" no longer holds the events after ${what}: ` +
      (oldest ? `the oldest point it can rewind to is ${describeTick(oldest)}` : 'it holds no tick to start from'),
  );
}

export function consumerCommands(program: Command): void {
  const consumer = program.command('consumer').description('register consumers, inspect their lag, move them');

  examples(
    consumer
      .command('register')
      .description('register a consumer at the queue\'s latest tick (or at a given tick or time)')
      .argument('<queue>', 'queue name')
      .argument('<consumer>', 'consumer name')
      .option('--at-tick <id>', 'start after this tick', parseTickId)
      .option('--at-time <timestamp>', 'start at the latest tick at or before this time', parseTimestamp)
      .action(
        action(async (ctx, queue: string, name: string, opts: { atTick?: string; atTime?: Date }) => {
          const rows = await ctx.rows(async (pool) => {
            if (opts.atTick || opts.atTime) {
              const tick = await resolveTick(pool, queue, opts.atTick, opts.atTime);
              await registerConsumerAt(pool, queue, name, tick.tickId);
              return [{ queue, consumer: name, registered: true, tick: tick.tickId as string | null }];
            }
            return [{ queue, consumer: name, registered: await registerConsumer(pool, queue, name), tick: null }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            ctx.say(
              `${r.database ? `${r.database}: ` : ''}consumer "${name}" ${r.registered ? 'registered' : 'was registered already'} on queue "${queue}"` +
                (r.tick ? ` at tick ${r.tick}` : ''),
            );
          }
        }),
      ),
    ['pgferry consumer register orders billing', 'pgferry consumer register orders audit --at-time 2026-01-31T00:00:00Z'],
  );

  examples(
    consumer
      .command('unregister')
      .description('remove a consumer from a queue (also cuts loose a stale consumer that blocks rotation)')
      .argument('<queue>', 'queue name')
      .argument('<consumer>', 'consumer name')
      .action(
        action(async (ctx, queue: string, name: string) => {
          const rows = await ctx.rows(async (pool) => {
            await unregisterConsumer(pool, queue, name);
            return [{ queue, consumer: name, unregistered: true }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) ctx.say(`${r.database ? `${r.database}: ` : ''}consumer "${name}" unregistered from queue "${queue}"`);
        }),
      ),
    ['pgferry consumer unregister orders old-reporting'],
  );

  examples(
    consumer
      .command('list')
      .description('list consumers (of one queue, or all) with lag, pending events and open batch')
      .argument('[queue]', 'queue name (default: all)')
      .action(
        action(async (ctx, queue: string | undefined) => {
          const rows = await ctx.rows((pool) => getConsumerInfo(pool, queue));
          ctx.printRows(rows, consumerColumns, '(no consumers)');
        }),
      ),
    ['pgferry consumer list', 'pgferry consumer list orders --json'],
  );

  examples(
    consumer
      .command('lag')
      .description('consumer lag in seconds and events; with --max-pending-age/--max-lag/--max-pending, exit 1 when over (for checks)')
      .argument('[queue]', 'queue name (default: all)')
      .option('--max-pending-age <seconds>', 'fail when a consumer\'s oldest pending event is older than this (0 when caught up)', parseNonNegative)
      .option('--max-lag <seconds>', 'fail when a consumer\'s position tick is older than this (grows on a quiet queue too)', parseNonNegative)
      .option('--max-pending <events>', 'fail when a consumer has more pending events than this', parseNonNegative)
      .action(
        action(async (ctx, queue: string | undefined, opts: { maxPendingAge?: number; maxLag?: number; maxPending?: number }) => {
          const rows = await ctx.rows((pool) => getConsumerInfo(pool, queue));
          const over = rows.filter(
            (c) =>
              (opts.maxPendingAge !== undefined && c.pendingAgeSeconds > opts.maxPendingAge) ||
              (opts.maxLag !== undefined && c.lagSeconds > opts.maxLag) ||
              (opts.maxPending !== undefined && c.pendingEvents > opts.maxPending),
          );
          const view = rows.map((c) => ({
            ...(c.database ? { database: c.database } : {}),
            queue: c.queueName,
            consumer: c.consumerName,
            lagSeconds: c.lagSeconds,
            pendingAgeSeconds: c.pendingAgeSeconds,
            pendingEvents: c.pendingEvents,
            ticksBehind: c.ticksBehind,
            over: over.includes(c),
          }));
          ctx.printRows(
            view,
            [
              { header: 'QUEUE', value: (c) => c.queue },
              { header: 'CONSUMER', value: (c) => c.consumer },
              { header: 'LAG', value: (c) => formatDuration(c.lagSeconds), align: 'right' },
              { header: 'LAG (S)', value: (c) => Number(c.lagSeconds.toFixed(3)) },
              { header: 'PENDING AGE', value: (c) => formatDuration(c.pendingAgeSeconds), align: 'right' },
              { header: 'PENDING', value: (c) => c.pendingEvents },
              { header: 'TICKS BEHIND', value: (c) => c.ticksBehind },
              ...(opts.maxPendingAge !== undefined || opts.maxLag !== undefined || opts.maxPending !== undefined
                ? [{ header: 'STATUS', value: (c: (typeof view)[number]) => (c.over ? 'OVER' : 'ok') }]
                : []),
            ],
            '(no consumers)',
          );
          for (const c of over) {
            ctx.errors.push({
              message: `consumer "${c.consumerName}" on queue "${c.queueName}"${c.database ? ` (${c.database})` : ''} lags ${formatDuration(c.lagSeconds)}, oldest pending event ${formatDuration(c.pendingAgeSeconds)}, ${c.pendingEvents} events`,
              exitCode: EXIT.FAILED,
            });
          }
        }),
      ),
    ['pgferry consumer lag', 'pgferry consumer lag orders --max-pending-age 60 --max-pending 100000   # for a cron check'],
  );

  examples(
    consumer
      .command('rewind')
      .description('move a consumer back (or forward) to a tick or a time, within what the queue still holds')
      .argument('<queue>', 'queue name')
      .argument('<consumer>', 'consumer name')
      .option('--tick <id>', 'the consumer\'s next batch starts after this tick', parseTickId)
      .option('--time <timestamp>', 'go to the latest tick at or before this time', parseTimestamp)
      .addHelpText(
        'after',
        '\nThe consumer must have no open batch (stop it first). Events after the chosen tick are\n' +
          'delivered again. `pgferry queue ticks <queue>` lists the ticks it can go to.',
      )
      .action(
        action(async (ctx, queue: string, name: string, opts: { tick?: string; time?: Date }) => {
          if (!opts.tick === !opts.time) throw new CliError('give exactly one of --tick or --time', EXIT.USAGE);
          const { pool } = ctx.single();
          const info = (await getConsumerInfo(pool, queue, name)).find((c) => c.consumerName === name);
          if (!info) throw new CliError(`consumer "${name}" is not registered on queue "${queue}"`);
          const tick = await resolveTick(pool, queue, opts.tick, opts.time);
          await registerConsumerAt(pool, queue, name, tick.tickId);
          const result = { queue, consumer: name, fromTick: info.lastTick, toTick: tick.tickId, tickTime: tick.time };
          if (ctx.json) return ctx.printJson(result);
          ctx.say(`consumer "${name}" on queue "${queue}" moved from tick ${info.lastTick} to ${describeTick(tick)}`);
        }),
      ),
    [
      'pgferry consumer rewind orders billing --time 2026-01-31T12:00:00Z',
      'pgferry consumer rewind orders billing --tick 1042',
    ],
  );
}

/** The tick named by id, or the latest at or before a time; a clear error when it is gone. */
async function resolveTick(pool: pg.Pool, queue: string, tickId?: string, time?: Date): Promise<TickRow> {
  if (time) {
    const tick = await findTickAt(pool, queue, time);
    if (!tick || !tick.available) return Promise.reject(await noLongerHeld(pool, queue, formatTime(time)));
    return tick;
  }
  const [tick] = await listTicks(pool, queue, { before: String(BigInt(tickId!) + 1n), after: String(BigInt(tickId!) - 1n), limit: 1 });
  if (!tick) {
    const [latest] = await listTicks(pool, queue, { limit: 1 });
    if (latest && BigInt(tickId!) > BigInt(latest.tickId)) {
      throw new CliError(`queue "${queue}" has no tick ${tickId}: its latest is ${describeTick(latest)}`);
    }
  }
  if (!tick || !tick.available) return Promise.reject(await noLongerHeld(pool, queue, `tick ${tickId}`));
  return tick;
}
