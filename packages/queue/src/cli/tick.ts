/** tick, maint: one round of what the daemon does, by hand (or from cron). */
import { Command } from 'commander';
import { forceTick, getQueueInfo, tick } from '../admin.js';
import { runMaintenance } from '../ticker.js';
import { withClient } from '../runtime/index.js';
import { action, examples, CliError } from './options.js';

export function tickCommands(program: Command): void {
  examples(
    program
      .command('tick')
      .description('run the ticker rules once (all queues, or one); with --force, tick the queue now')
      .argument('[queue]', 'queue name (default: all queues)')
      .option('--force', 'make a tick now whatever the rules say (needs a queue)')
      .action(
        action(async (ctx, queue: string | undefined, opts: { force?: boolean }) => {
          const rows = await ctx.rows(async (pool) => {
            if (opts.force) {
              const names = queue ? [queue] : (await getQueueInfo(pool)).map((q) => q.queueName);
              const out: { queue: string; tick: string }[] = [];
              for (const name of names) out.push({ queue: name, tick: await forceTick(pool, name) });
              return [{ ticks: out.length, forced: out }];
            }
            return [{ ticks: await tick(pool, queue), forced: [] as { queue: string; tick: string }[] }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            if (opts.force) for (const f of r.forced) ctx.say(`${where}queue "${f.queue}": tick ${f.tick}`);
            else ctx.say(`${where}${r.ticks} new tick(s)`);
          }
        }),
      ),
    ['pgferry tick', 'pgferry tick orders --force'],
  );

  examples(
    program
      .command('maint')
      .description('run maintenance once: rotate event tables, move due retries back, clean up old ticks')
      .action(
        action(async (ctx) => {
          const rows = await ctx.rows(async (pool) => [await withClient(pool, (c) => runMaintenance(c))]);
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          let failed = 0;
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            ctx.say(`${where}maintenance done: ${r.rotations} rotation step(s), ${r.retriesMoved} retried event(s) moved back`);
            for (const f of r.failures) {
              failed++;
              ctx.say(`${where}${f.operation} failed for queue ${f.queue === null ? '(all queues)' : JSON.stringify(f.queue)}: ${f.error}`);
            }
          }
          // The other queues were maintained; the exit code still says something failed.
          if (failed > 0) throw new CliError(`${failed} maintenance operation(s) failed (the other queues were maintained)`);
        }),
      ),
    ['pgferry maint', 'pgferry maint --db postgres://db1/app --db postgres://db2/app'],
  );
}
