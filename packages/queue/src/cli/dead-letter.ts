/** dead-letter list | replay | purge */
import { Command } from 'commander';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from '../admin.js';
import { truncate } from './format.js';
import { action, examples, parseInteger, CliError, EXIT } from './options.js';

export function deadLetterCommands(program: Command): void {
  const dl = program.command('dead-letter').description('inspect, replay and purge events consumers gave up on');

  examples(
    dl
      .command('list')
      .description("list a queue's dead letters, oldest first")
      .argument('<queue>', 'queue name')
      .option('-c, --consumer <name>', 'only this consumer\'s')
      .option('-n, --limit <n>', 'at most this many', parseInteger, 100)
      .action(
        action(async (ctx, queue: string, opts: { consumer?: string; limit: number }) => {
          const rows = await ctx.rows((pool) => listDeadLetters(pool, queue, { consumer: opts.consumer, limit: opts.limit }));
          ctx.printRows(
            rows,
            [
              { header: 'ID', value: (d) => d.id, align: 'right' },
              { header: 'CONSUMER', value: (d) => d.consumerName },
              { header: 'TIME', value: (d) => d.time },
              { header: 'EVENT', value: (d) => d.eventId, align: 'right' },
              { header: 'RETRIES', value: (d) => d.retry, align: 'right' },
              { header: 'TYPE', value: (d) => d.type },
              { header: 'REASON', value: (d) => truncate(d.reason, 50) },
              { header: 'DATA', value: (d) => truncate(d.data, 50) },
            ],
            '(no dead letters)',
          );
        }),
      ),
    ['pgferry dead-letter list orders', 'pgferry dead-letter list orders -c billing --json'],
  );

  examples(
    dl
      .command('replay')
      .description('send dead letters back to their consumer (all of its, or the given ids): they come again')
      .argument('<queue>', 'queue name')
      .argument('<consumer>', 'consumer name')
      .argument('[ids...]', 'dead-letter ids (default: all of the consumer\'s)')
      .action(
        action(async (ctx, queue: string, consumer: string, ids: string[]) => {
          for (const id of ids) if (!/^\d+$/.test(id)) throw new CliError(`dead-letter id "${id}" is not a number`, EXIT.USAGE);
          const rows = await ctx.rows(async (pool) => [
            { queue, consumer, replayed: await replayDeadLetters(pool, queue, consumer, ids.length ? ids : undefined) },
          ]);
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            ctx.say(`${r.database ? `${r.database}: ` : ''}${r.replayed} dead letter(s) of "${consumer}" sent back to queue "${queue}"`);
          }
        }),
      ),
    ['pgferry dead-letter replay orders billing', 'pgferry dead-letter replay orders billing 17 18'],
  );

  examples(
    dl
      .command('purge')
      .description('delete dead letters (all of the queue\'s, of one consumer, or older than an age)')
      .argument('<queue>', 'queue name')
      .option('-c, --consumer <name>', 'only this consumer\'s')
      .option('--older-than <interval>', "only those older than this PostgreSQL interval ('7 days')")
      .option('--yes', 'required to purge all of a queue\'s dead letters (no --consumer, no --older-than)')
      .action(
        action(async (ctx, queue: string, opts: { consumer?: string; olderThan?: string; yes?: boolean }) => {
          if (!opts.consumer && !opts.olderThan && !opts.yes) {
            throw new CliError('this deletes every dead letter of the queue: add --yes, or narrow it with --consumer/--older-than', EXIT.USAGE);
          }
          const rows = await ctx.rows(async (pool) => [
            { queue, purged: await purgeDeadLetters(pool, queue, { consumer: opts.consumer, olderThan: opts.olderThan }) },
          ]);
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) ctx.say(`${r.database ? `${r.database}: ` : ''}${r.purged} dead letter(s) purged from queue "${queue}"`);
        }),
      ),
    ["pgferry dead-letter purge orders --older-than '30 days'", 'pgferry dead-letter purge orders --consumer billing'],
  );
}
