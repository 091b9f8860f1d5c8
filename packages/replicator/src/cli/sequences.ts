/** add-sequence, remove-sequence, sequences. */
import { Command } from 'commander';
import { CliError, EXIT, renderTable } from '@pgferry/queue/cli';
import type { SubscribedSequence } from '../state/subscribed-sequence.js';
import { examples, leafOption, list, providerOption, run, subscriberOption } from './options.js';

/** The sequences of a subscription as a table for people. */
function renderSequences(seqs: SubscribedSequence[]): string {
  return renderTable(seqs, [
    { header: 'SOURCE', value: (q) => q.source },
    { header: 'DEST', value: (q) => q.dest },
    { header: 'LAST VALUE', value: (q) => q.lastValue ?? '' },
  ]);
}

interface AddSequenceFlags {
  provider: string;
  subscriber: string;
  node: string;
  dest?: string;
  create?: boolean;
  all?: boolean;
  schema?: string;
}

export function sequenceCommands(replicate: Command): void {
  examples(
    replicate
      .command('add-sequence')
      .description("replicate a sequence: the subscriber's is set forward to the provider's value now and at every batch, never behind it")
      .argument('[sequence]', 'the sequence on the provider (schema.name; default schema public)')
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--dest <sequence>', 'the sequence on the subscriber (default: the same name)')
      .option('--create', "create the subscriber's sequence from the provider's definition when it does not exist")
      .option('--all', "every sequence of the schemas of the subscription's tables (or of --schema) not added yet")
      .option('--schema <a,b>', "with --all: these schemas ('*': every schema but the system's and pgferry's)")
      .action(
        run(async (ctx, dbs, sequence: string | undefined, o: AddSequenceFlags) => {
          if (Boolean(o.all) === (sequence !== undefined)) throw new CliError('add-sequence needs a sequence or --all (not both)', EXIT.USAGE);
          if (o.schema !== undefined && !o.all) throw new CliError('--schema goes with --all', EXIT.USAGE);
          if (o.all && o.dest !== undefined) throw new CliError('--dest names one sequence: not with --all', EXIT.USAGE);
          const { addAllSequences, addSequence } = await import('../admin/sequences.js');
          const provider = await dbs.provider(o.provider);
          const subscriber = await dbs.subscriber(o.subscriber);
          const added = o.all
            ? await addAllSequences(provider, subscriber, { subscription: o.node, schemas: o.schema === '*' ? 'every' : list(o.schema), create: o.create })
            : [await addSequence(provider, subscriber, { subscription: o.node, sequence: sequence!, dest: o.dest, create: o.create })];
          if (ctx.json) return ctx.printJson(o.all ? added : added[0]);
          for (const q of added) ctx.say(`added sequence ${q.source} -> ${q.dest} (${q.lastValue ?? 'not used yet'})`);
          if (!added.length) ctx.say('no sequences to add');
        }),
      ),
    [
      'add-sequence --provider $P --subscriber $S --node leaf1 public.orders_id_seq --create',
      'add-sequence --provider $P --subscriber $S --node leaf1 --all --create',
      "add-sequence --provider $P --subscriber $S --node leaf1 --all --schema '*'",
    ],
  );

  examples(
    replicate
      .command('remove-sequence')
      .description("stop replicating a sequence (the subscriber's sequence stays, with its value)")
      .argument('<sequence>', 'the sequence (provider or subscriber name)')
      .addOption(subscriberOption())
      .addOption(leafOption())
      .action(
        run(async (ctx, dbs, sequence: string, o: { subscriber: string; node: string }) => {
          const { removeSequence } = await import('../admin/sequences.js');
          const q = await removeSequence(await dbs.subscriber(o.subscriber), { subscription: o.node, sequence });
          if (ctx.json) return ctx.printJson({ removed: q.source });
          ctx.say(`removed sequence ${q.source}`);
        }),
      ),
    ['remove-sequence --subscriber $S --node leaf1 public.orders_id_seq'],
  );

  examples(
    replicate
      .command('sequences')
      .description("list the subscription's sequences and the provider's last value each was set forward to")
      .addOption(subscriberOption())
      .addOption(leafOption())
      .action(
        run(async (ctx, dbs, o: { subscriber: string; node: string }) => {
          const [{ subscriberNode }, { listSequences }] = await Promise.all([import('../admin/nodes.js'), import('../stream/sequences.js')]);
          const subscriber = await dbs.subscriber(o.subscriber);
          await subscriberNode(subscriber, o.node); // an unknown leaf is an error, not "no sequences"
          const seqs = await listSequences(subscriber, o.node);
          if (ctx.json) return ctx.printJson(seqs);
          ctx.say(renderSequences(seqs));
          if (!seqs.length) ctx.say('(no sequences)');
        }),
      ),
    ['sequences --subscriber $S --node leaf1', 'sequences --subscriber $S --node leaf1 --json'],
  );
}
