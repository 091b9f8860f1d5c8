/** wait-provider, wait-root, wait-sync: block until a subscription has caught up (Londiste's commands of these names). */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { WaitOptions, WaitProgress } from '../admin/wait.js';
import type { Context } from '@pgferry/queue/cli';
import { examples, leafOption, providerOption, run, subscriberOption } from './options.js';

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds > 0');
  return n;
}

const timeoutOption = () => new Option('--timeout <seconds>', 'give up after this long (exit 1), saying what is missing and what the worker reports; default: wait as long as it takes').argParser(seconds);

/** Wait options with progress on stderr (one line when it changes, at most every 2 s): stdout stays the result. */
function waitOptions(ctx: Context, timeout: number | undefined): WaitOptions {
  let last = '';
  let at = 0;
  return {
    timeoutMs: timeout === undefined ? undefined : timeout * 1000,
    onProgress: (p: WaitProgress) => {
      const line = p.tablesNotOk
        ? `${p.node}: ${p.tablesNotOk.length ? `waiting for ${p.tablesNotOk.join(', ')}` : 'every table ok'}`
        : `${p.node}: applied tick ${p.appliedTick ?? 'none'}, waiting for ${p.targetTick}`;
      const full = p.lastError ? `${line} (worker: ${p.lastError})` : line;
      if (ctx.json || (full === last && Date.now() - at < 10_000) || Date.now() - at < 2000) return;
      process.stderr.write(`${full}\n`);
      last = full;
      at = Date.now();
    },
  };
}

export function waitCommands(replicate: Command): void {
  examples(
    replicate
      .command('wait-provider')
      .description("wait until the subscription has applied everything its provider had committed when the command started (a root: a tick made now; a branch: the root's tick it applied last), for its tables in state ok (wait-sync waits for the others)")
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .addOption(timeoutOption())
      .action(
        run(async (ctx, dbs, o: { provider: string; subscriber: string; node: string; timeout?: number }) => {
          const { waitForProvider } = await import('../admin/wait.js');
          const r = await waitForProvider(await dbs.provider(o.provider), await dbs.subscriber(o.subscriber), o.node, waitOptions(ctx, o.timeout));
          if (ctx.json) ctx.printJson(r);
          else ctx.say(`${r.node}: applied tick ${r.appliedTick} (waited for ${r.targetTick}, ${(r.waitedMs / 1000).toFixed(1)} s)`);
        }),
      ),
    ['wait-provider --provider $P --subscriber $S --node leaf1 --timeout 600', 'wait-provider --provider $B --subscriber $S --node leaf2 --json'],
  );

  examples(
    replicate
      .command('wait-root')
      .description('wait until the subscription has applied everything the root had committed when the command started, through every branch between, for its tables in state ok')
      .addOption(new Option('--root <url>', 'the root database URL').makeOptionMandatory())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .addOption(timeoutOption())
      .action(
        run(async (ctx, dbs, o: { root: string; subscriber: string; node: string; timeout?: number }) => {
          const { waitForRoot } = await import('../admin/wait.js');
          const r = await waitForRoot(await dbs.provider(o.root), await dbs.subscriber(o.subscriber), o.node, waitOptions(ctx, o.timeout));
          if (ctx.json) ctx.printJson(r);
          else ctx.say(`${r.node}: applied tick ${r.appliedTick} (waited for the root's ${r.targetTick}, ${(r.waitedMs / 1000).toFixed(1)} s)`);
        }),
      ),
    ['wait-root --root $P --subscriber $S --node leaf2'],
  );

  examples(
    replicate
      .command('wait-sync')
      .description("wait until every table of the subscription is 'ok': copied, caught up and applied by the main stream")
      .addOption(subscriberOption())
      .addOption(leafOption())
      .addOption(timeoutOption())
      .action(
        run(async (ctx, dbs, o: { subscriber: string; node: string; timeout?: number }) => {
          const { waitForSync } = await import('../admin/wait.js');
          const r = await waitForSync(await dbs.subscriber(o.subscriber), o.node, waitOptions(ctx, o.timeout));
          if (ctx.json) ctx.printJson(r);
          else ctx.say(`${r.node}: ${r.tables} table(s) ok (${(r.waitedMs / 1000).toFixed(1)} s)`);
        }),
      ),
    ['wait-sync --subscriber $S --node leaf1 --timeout 3600'],
  );
}
