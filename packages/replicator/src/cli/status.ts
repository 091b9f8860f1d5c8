/** status: a subscription's position, lag, tables (state, handler, copy) and errors; or the whole cascade. */
import { Command, Option } from 'commander';
import { CliError, EXIT } from '@pgferry/queue/cli';
import { examples, run } from './options.js';

export function statusCommand(replicate: Command): void {
  examples(
    replicate
      .command('status')
      .description(
        "the subscription's position, lag, tables (state, handler, copy progress) and errors; with --cascade every node below --provider, its provider and the lag of each hop (exit 1 when there is an error)",
      )
      .option('--subscriber <url>', 'subscriber (leaf or branch) database URL')
      .option('--node <name>', 'the subscription (leaf or branch node)')
      .addOption(new Option('--provider <url>', 'provider database URL, for the lag and the pending events; with --cascade, where the walk starts'))
      .option('--cascade', 'every node of the cascade below --provider (a root or a branch), through the locations they recorded')
      .action(
        run(async (ctx, dbs, o: { subscriber?: string; node?: string; provider?: string; cascade?: boolean }) => {
          if (o.cascade) {
            if (!o.provider) throw new CliError('status --cascade needs --provider (the root, or a branch)', EXIT.USAGE);
            const { cascadeStatus, formatCascade } = await import('../status/cascade-status.js');
            const nodes = await cascadeStatus(await dbs.provider(o.provider), (url) => dbs.subscriber(url));
            if (ctx.json) ctx.printJson(nodes);
            else ctx.say(formatCascade(nodes));
            if (nodes.some((n) => n.lastError || n.unreachable)) process.exitCode = EXIT.FAILED;
            return;
          }
          if (!o.subscriber || !o.node) throw new CliError('status needs --subscriber and --node (or --cascade --provider)', EXIT.USAGE);
          const { formatStatus, getStatus } = await import('../status/status.js');
          const subscriber = await dbs.subscriber(o.subscriber);
          const st = await getStatus(subscriber, o.node, o.provider ? await dbs.provider(o.provider, { check: false }) : undefined);
          if (ctx.json) ctx.printJson(st);
          else ctx.say(formatStatus(st));
          if (st.lastError || st.tables.some((t) => t.lastError)) process.exitCode = EXIT.FAILED;
        }),
      ),
    ['status --provider $P --subscriber $S --node leaf1', 'status --subscriber $S --node leaf1 --json', 'status --cascade --provider $ROOT'],
  );
}
