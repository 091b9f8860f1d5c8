/** create-branch, change-provider, switchover, takeover, resurrect: the cascade's topology. */
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { maxNodeNameLength } from '../admin/node-name.js';
import { examples, providerOption, run, subscriberOption } from './options.js';

/** A command-line whole number >= 0. */
function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

const nodeName = `1 to ${maxNodeNameLength()} of A-Z a-z 0-9 _ . -`;

export function cascadeCommands(replicate: Command): void {
  examples(
    replicate
      .command('create-branch')
      .description(
        "make the subscriber database a branch of the provider (a root or a branch): it replicates the provider's tables and carries its queue, so nodes below it can move anywhere in the cascade",
      )
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(new Option('--node <name>', `branch node name: its consumer name on the provider's queue (${nodeName})`).makeOptionMandatory())
      .option('--location <url>', "the branch's URL as the other nodes reach it (default: --subscriber)")
      .option('--provider-location <url>', "the provider's URL as the branch's worker reaches it (default: --provider)")
      .action(
        run(async (ctx, dbs, o: { provider: string; subscriber: string; node: string; location?: string; providerLocation?: string }) => {
          const { createBranchNode } = await import('../admin/nodes.js');
          const n = await createBranchNode(await dbs.provider(o.provider), await dbs.subscriber(o.subscriber), {
            node: o.node,
            providerLocation: o.providerLocation ?? o.provider,
            location: o.location ?? o.subscriber,
          });
          if (ctx.json) return ctx.printJson(n);
          ctx.say(`branch node ${n.name} of ${n.providerNode} (queue ${n.queue})`);
        }),
      ),
    ['create-branch --provider postgres://admin@db1/app --subscriber postgres://admin@db2/app --node branch1'],
  );

  examples(
    replicate
      .command('change-provider')
      .description('move a leaf or a branch to another node of its cascade (a root or a branch) at its exact position: nothing copied, lost or applied twice')
      .addOption(subscriberOption())
      .addOption(new Option('--node <name>', 'the node to move').makeOptionMandatory())
      .addOption(new Option('--provider <url>', 'the new provider database URL').makeOptionMandatory())
      .option('--old-provider <url>', "the current provider, to remove the node's consumer there (default: the location the node records)")
      .action(
        run(async (ctx, dbs, o: { subscriber: string; node: string; provider: string; oldProvider?: string }) => {
          const [{ changeProvider }, { subscriberNode }] = await Promise.all([import('../admin/cascade.js'), import('../admin/nodes.js')]);
          const subscriber = await dbs.subscriber(o.subscriber);
          const node = await subscriberNode(subscriber, o.node);
          const oldAt = o.oldProvider ?? node.providerLocation;
          const oldProvider = oldAt ? await dbs.provider(oldAt, { check: false }) : null;
          const r = await changeProvider(subscriber, await dbs.provider(o.provider), { node: o.node, providerLocation: o.provider, location: o.subscriber, oldProvider });
          if (ctx.json) return ctx.printJson(r);
          ctx.say(`node ${r.node} reads from ${r.to} from tick ${r.tickId} (was ${r.from})`);
          if (r.oldProviderCleanup) ctx.say(`warning: its consumer on ${r.from} is left: ${r.oldProviderCleanup} (remove it with drop-leaf --force there)`);
        }),
      ),
    ['change-provider --subscriber $LEAF --node leaf1 --provider $ROOT'],
  );

  examples(
    replicate
      .command('switchover')
      .description('move the root role to a branch of the root (planned): writes stop on the old root, the branch applies its last tick and becomes the root, the old root becomes its branch')
      .addOption(new Option('--old-root <url>', 'the root database URL').makeOptionMandatory())
      .addOption(new Option('--new-root <url>', 'the branch database URL (a branch of the root)').makeOptionMandatory())
      .option('--timeout <ms>', 'longest wait for writers to end and for the branch to catch up', (v) => Number(v), 60_000)
      .action(
        run(async (ctx, dbs, o: { oldRoot: string; newRoot: string; timeout: number }) => {
          const { switchover } = await import('../admin/switchover.js');
          const r = await switchover(await dbs.provider(o.oldRoot), await dbs.provider(o.newRoot), {
            oldRootLocation: o.oldRoot,
            newRootLocation: o.newRoot,
            timeoutMs: o.timeout,
            // Progress on stderr: stdout stays the result.
            onStep: (s) => void (ctx.json || process.stderr.write(`${s}\n`)),
          });
          if (ctx.json) return ctx.printJson(r);
          ctx.say(`${r.newRoot} is the root from tick ${r.tickId}; ${r.oldRoot} is its branch (writes paused ${r.writePauseMs} ms: point the application at the new root)`);
        }),
      ),
    ['switchover --old-root $ROOT --new-root $BRANCH'],
  );

  examples(
    replicate
      .command('takeover')
      .description('the root is gone: promote its branch at the last tick it applied, move the other nodes that read from the root to it, and report what is lost')
      .addOption(new Option('--new-root <url>', 'the branch database URL').makeOptionMandatory())
      .option('--survivor <node=url...>', 'another node that read from the dead root, to move to the new root (repeat)')
      .option('--dead-root <url>', 'the dead root, if it can still be reached (it is closed to writes)')
      .option('--sequence-margin <n>', "move each replicated sequence n increments on before the new root takes writes (values the dead root drew after the last replicated batch are not drawn again, up to n)", wholeNumber, 0)
      .action(
        run(async (ctx, dbs, o: { newRoot: string; survivor?: string[]; deadRoot?: string; sequenceMargin: number }) => {
          const { takeover } = await import('../admin/switchover.js');
          const survivors = [];
          for (const s of o.survivor ?? []) {
            const at = s.indexOf('=');
            if (at < 1) throw new Error(`--survivor ${s}: give node=url`);
            survivors.push({ node: s.slice(0, at), db: await dbs.subscriber(s.slice(at + 1)) });
          }
          const deadRoot = o.deadRoot ? await dbs.provider(o.deadRoot, { check: false }) : null;
          const r = await takeover(await dbs.provider(o.newRoot), { newRootLocation: o.newRoot, survivors, deadRoot, sequenceMargin: o.sequenceMargin });
          if (ctx.json) return ctx.printJson(r);
          ctx.say(`${r.newRoot} is the root; changes of ${r.deadRoot} after tick ${r.failoverTick} are lost to the cascade${r.deadRootFenced ? ` (${r.deadRoot} was reached and closed to writes)` : ''}`);
          for (const s of r.survivors) ctx.say(`  ${s.node} (tick ${s.appliedTick}): ${s.outcome}: ${s.note}`);
          for (const q of r.sequences) ctx.say(`  sequence ${q.sequence}: moved on to ${q.lastValue}`);
        }),
      ),
    ['takeover --new-root $BRANCH --survivor leaf2=$LEAF2', 'takeover --new-root $BRANCH --sequence-margin 1000'],
  );

  examples(
    replicate
      .command('resurrect')
      .description('the old root of a takeover is back: close it to writes, list the changes it committed that nobody got, and make it a branch of the new root (its tables copied again)')
      .addOption(new Option('--old-root <url>', 'the old root database URL').makeOptionMandatory())
      .addOption(new Option('--new-root <url>', 'the new root database URL').makeOptionMandatory())
      .option('--dump <file>', 'write the lost events there (JSON)')
      .action(
        run(async (ctx, dbs, o: { oldRoot: string; newRoot: string; dump?: string }) => {
          const { resurrect } = await import('../admin/switchover.js');
          const r = await resurrect(await dbs.provider(o.oldRoot), await dbs.provider(o.newRoot), { oldRootLocation: o.oldRoot, newRootLocation: o.newRoot });
          if (o.dump) writeFileSync(o.dump, `${JSON.stringify(r.events, null, 1)}\n`);
          const { events: _, ...rest } = r;
          if (ctx.json) return ctx.printJson(rest);
          ctx.say(`${r.node} is a branch of ${r.newRoot}; its tables are copied again. ${r.lost.length} change(s) it committed after tick ${r.failoverTick} were lost:`);
          for (const [table, ops] of Object.entries(r.summary)) ctx.say(`  ${table}: ${Object.entries(ops).map(([op, n]) => `${n} ${op}`).join(', ')}`);
        }),
      ),
    ['resurrect --old-root $OLD --new-root $ROOT --dump lost-events.json'],
  );
}
