/** events batch | tail */
import { Command } from 'commander';
import { getEventsBetweenTicks, getLatestEvents, getQueueInfo, listTicks } from '../admin.js';
import { getBatchEvents, getBatchInfo, type RawEvent } from '../batch.js';
import { sleep } from '../runtime/index.js';
import { formatTime, renderPairs, renderTable, truncate, type Column } from './format.js';
import { action, examples, parseInteger, parseTickId } from './options.js';

const eventColumns: Column<RawEvent>[] = [
  { header: 'ID', value: (e) => e.id, align: 'right' },
  { header: 'TIME', value: (e) => e.time },
  { header: 'TXID', value: (e) => e.txid, align: 'right' },
  { header: 'RETRY', value: (e) => e.retry, align: 'right' },
  { header: 'TYPE', value: (e) => e.type },
  { header: 'DATA', value: (e) => truncate(e.data, 80) },
];

export function eventCommands(program: Command): void {
  const events = program.command('events').description("show a batch's events, or tail a queue");

  examples(
    events
      .command('batch')
      .description('show an open batch: what it covers and its events (ids in `pgferry consumer list`)')
      .argument('<batch-id>', 'batch id', parseTickId)
      .option('-n, --limit <n>', 'at most this many events', parseInteger, 1000)
      .action(
        action(async (ctx, batchId: string, opts: { limit: number }) => {
          const { pool } = ctx.single();
          const info = await getBatchInfo(pool, batchId);
          const evs = (await getBatchEvents(pool, batchId)).slice(0, opts.limit);
          if (ctx.json) return ctx.printJson({ batch: { id: batchId, ...info }, events: evs });
          ctx.say(
            renderPairs([
              ['batch', batchId],
              ['queue', info.queueName],
              ['consumer', info.consumerName],
              ['ticks', `${info.prevTickId} -> ${info.tickId}`],
              ['span', `${formatTime(info.batchStart)} -> ${formatTime(info.batchEnd)}`],
              ['events', evs.length],
            ]),
          );
          ctx.say('');
          ctx.printRows(evs, eventColumns, '(no events)');
        }),
      ),
    ['pgferry events batch 1234'],
  );

  examples(
    events
      .command('tail')
      .description("show a queue's latest ticked events; with --follow, print new ones as ticks arrive")
      .argument('<queue>', 'queue name')
      .option('-n, --lines <n>', 'how many of the latest events to show first', parseInteger, 20)
      .option('-f, --follow', 'keep printing events of each new tick (Ctrl-C to stop)')
      .option('--from-tick <id>', 'start after this tick instead of showing the latest events', parseTickId)
      .option('--poll <ms>', 'how often to look for new ticks with --follow', parseInteger, 500)
      .addHelpText(
        'after',
        '\nEvents show once a tick covers them (as consumers see them); retried copies are not shown.\n' +
          'With --json and --follow, one JSON object per line (NDJSON).',
      )
      .action(
        action(async (ctx, queue: string, opts: { lines: number; follow?: boolean; fromTick?: string; poll: number }) => {
          const { pool } = ctx.single();
          const [info] = await getQueueInfo(pool, queue);
          let lastTick = opts.fromTick ?? info!.lastTickId;
          let headerDone = false;
          const print = (evs: RawEvent[]) => {
            if (ctx.json) {
              if (opts.follow) for (const e of evs) ctx.out.write(JSON.stringify(e) + '\n');
              else ctx.printJson(evs);
              return;
            }
            if (evs.length === 0) return;
            const table = renderTable(evs, eventColumns).split('\n');
            ctx.out.write((headerDone ? table.slice(1) : table).join('\n') + '\n');
            headerDone = true;
          };
          if (!opts.fromTick) {
            const latest = await getLatestEvents(pool, queue, lastTick, { limit: opts.lines });
            print(latest);
            if (!opts.follow && !ctx.json && latest.length === 0) ctx.say('(no events)');
          }
          if (!opts.follow) {
            if (opts.fromTick) print(await getEventsBetweenTicks(pool, queue, opts.fromTick, info!.lastTickId, { limit: 100_000 }));
            return;
          }
          const stop = new AbortController();
          const onSignal = () => stop.abort();
          process.once('SIGINT', onSignal);
          process.once('SIGTERM', onSignal);
          try {
            while (!stop.signal.aborted) {
              const ticks = (await listTicks(pool, queue, { after: lastTick, limit: 100 })).reverse();
              for (const t of ticks) {
                print(await getEventsBetweenTicks(pool, queue, lastTick, t.tickId, { limit: 1_000_000 }));
                lastTick = t.tickId;
              }
              if (ticks.length === 0) await sleep(opts.poll, stop.signal);
            }
          } finally {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          }
        }),
      ),
    ['pgferry events tail orders -n 50', 'pgferry events tail orders --follow --json | jq .data'],
  );
}
