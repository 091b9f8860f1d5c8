/** create-root, create-leaf, drop-leaf (create-branch and the cascade's moves: cascade.ts). */
import { Command, Option } from 'commander';
import { maxNodeNameLength } from '../admin/node-name.js';
import type { DropLeafResult } from '../admin/nodes.js';
import { examples, providerOption, run, subscriberOption } from './options.js';

const nodeName = `1 to ${maxNodeNameLength()} of A-Z a-z 0-9 _ . -`;

/** What drop-leaf removed, for people. */
function describeDrop(r: DropLeafResult): string {
  const lines: string[] = [];
  const p = r.provider;
  const s = r.subscriber;
  if (r.forced) lines.push(`leaf ${r.node}: a worker was serving it (--force); stop it, it fails on every step now`);
  if (p.consumers.length) lines.push(`provider: unregistered consumer${p.consumers.length > 1 ? 's' : ''} ${p.consumers.join(', ')} from queue ${r.queue}`);
  if (p.nodeRow) lines.push(`provider: removed node row ${r.node}`);
  if (s.tables.length) lines.push(`subscriber: took ${s.tables.join(', ')} out of the subscription (the tables and their data stay)`);
  if (s.sequences.length) lines.push(`subscriber: took sequence${s.sequences.length > 1 ? 's' : ''} ${s.sequences.join(', ')} out of the subscription (the sequences stay)`);
  if (s.appliedTick) lines.push('subscriber: removed the applied tick');
  if (s.statusRows) lines.push(`subscriber: removed ${s.statusRows} status row${s.statusRows > 1 ? 's' : ''}`);
  if (s.nodeRow) lines.push(`subscriber: removed node row ${r.node}`);
  if (lines.length === (r.forced ? 1 : 0)) lines.push(`leaf ${r.node}: nothing to remove (neither database knows it)`);
  else lines.push(`leaf ${r.node} removed`);
  return lines.join('\n');
}

export function nodeCommands(replicate: Command): void {
  examples(
    replicate
      .command('create-root')
      .description('make the provider database a root node: pgferry installed, the replication queue created')
      .addOption(providerOption())
      .addOption(new Option('--node <name>', `root node name (${nodeName})`).makeOptionMandatory())
      .option('--queue <name>', 'replication queue (default: the node name)')
      .action(
        run(async (ctx, dbs, o: { provider: string; node: string; queue?: string }) => {
          const { createRootNode } = await import('../admin/nodes.js');
          const n = await createRootNode(await dbs.provider(o.provider), { node: o.node, queue: o.queue });
          if (ctx.json) return ctx.printJson(n);
          ctx.say(`root node ${n.name} (queue ${n.queue})`);
        }),
      ),
    ['create-root --provider postgres://admin@db1/app --node root --queue repl'],
  );

  examples(
    replicate
      .command('create-leaf')
      .description("make the subscriber database a leaf of the provider (a root or a branch): a consumer on its queue, its position recorded")
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(new Option('--node <name>', `leaf node name: its consumer name on the provider's queue (${nodeName})`).makeOptionMandatory())
      .option('--location <url>', "the leaf's URL as the other nodes reach it (default: --subscriber)")
      .option('--provider-location <url>', "the provider's URL as the leaf's worker reaches it (default: --provider)")
      .action(
        run(async (ctx, dbs, o: { provider: string; subscriber: string; node: string; location?: string; providerLocation?: string }) => {
          const { createLeafNode } = await import('../admin/nodes.js');
          const n = await createLeafNode(await dbs.provider(o.provider), await dbs.subscriber(o.subscriber), {
            node: o.node,
            providerLocation: o.providerLocation ?? o.provider,
            location: o.location ?? o.subscriber,
          });
          if (ctx.json) return ctx.printJson(n);
          ctx.say(`leaf node ${n.name} of ${n.providerNode} (queue ${n.queue})`);
        }),
      ),
    ['create-leaf --provider postgres://admin@db1/app --subscriber postgres://admin@db2/app --node leaf1'],
  );

  examples(
    replicate
      .command('drop-leaf')
      .description(
        "remove a leaf or a branch: its consumers on the provider's queue, its rows on both sides (the subscriber's tables and data stay); refused while a worker serves it",
      )
      .addOption(providerOption())
      .option('--subscriber <url>', 'subscriber (leaf or branch) database URL (without it, when that database is gone: only the provider side, with --force)')
      .addOption(new Option('--node <name>', 'the leaf or branch node to remove').makeOptionMandatory())
      .option('--force', 'remove it even though a worker serves it (the worker then fails on every step until stopped)')
      .action(
        run(async (ctx, dbs, o: { provider: string; subscriber?: string; node: string; force?: boolean }) => {
          const provider = await dbs.provider(o.provider);
          const subscriber = o.subscriber ? await dbs.subscriber(o.subscriber) : null;
          const { dropLeafNode } = await import('../admin/nodes.js');
          const r = await dropLeafNode(provider, subscriber, { node: o.node, force: o.force });
          if (ctx.json) return ctx.printJson(r);
          ctx.say(`${o.subscriber ? '' : 'subscriber: not given, nothing removed there\n'}${describeDrop(r)}`);
        }),
      ),
    [
      'drop-leaf --provider postgres://admin@db1/app --subscriber postgres://admin@db2/app --node leaf1',
      'drop-leaf --provider postgres://admin@db1/app --node leaf1 --force   # the subscriber database is gone',
    ],
  );
}
