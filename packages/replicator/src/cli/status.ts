/** status: a subscription's position, lag, tables (state, handler, copy) and errors. */
import { Command, Option } from 'commander';
import { EXIT } from '@pgferry/queue/cli';
import { examples, leafOption, run, subscriberOption } from './options.js';

export function statusCommand(replicate: Command): void {
  examples(
    replicate
      .command('status')
      .description("the subscription's position, lag, tables (state, handler, copy progress) and errors (exit 1 when there is an error)")
      .addOption(subscriberOption())
      .addOption(leafOption())
      .addOption(new Option('--provider <url>', 'provider database URL, for the lag and the pending events'))
      .action(
        run(async (ctx, dbs, o: { subscriber: string; node: string; provider?: string }) => {
          const { formatStatus, getStatus } = await import('../status/status.js');
          const subscriber = await dbs.subscriber(o.subscriber);
          const st = await getStatus(subscriber, o.node, o.provider ? await dbs.provider(o.provider, { check: false }) : undefined);
          if (ctx.json) ctx.printJson(st);
          else ctx.say(formatStatus(st));
          if (st.lastError || st.tables.some((t) => t.lastError)) process.exitCode = EXIT.FAILED;
        }),
      ),
    ['status --provider $P --subscriber $S --node leaf1', 'status --subscriber $S --node leaf1 --json'],
  );
}
