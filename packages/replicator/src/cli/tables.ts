/** add-table, handlers, remove-table, resync, tables. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { CliError, EXIT, renderTable } from '@pgferry/queue/cli';
import type { HandlerRegistry } from '../handlers/registry.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { examples, leafOption, list, providerOption, run, subscriberOption } from './options.js';

/** A handler's arguments as one cell: "k=v k2=v2" (empty for none). */
export function formatHandlerArgs(args: Record<string, string>): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** The tables of a subscription as a table for people. */
export function renderTables(tables: SubscribedTable[]): string {
  return renderTable(tables, [
    { header: 'SOURCE', value: (t) => t.source },
    { header: 'DEST', value: (t) => t.dest },
    { header: 'STATE', value: (t) => t.state },
    { header: 'HANDLER', value: (t) => t.handler },
    { header: 'ARGS', value: (t) => formatHandlerArgs(t.handlerArgs) },
  ]);
}

/** `--handler-arg key=value` (repeatable) into { key: value }. */
function handlerArg(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value');
  const key = value.slice(0, eq);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`"${key}" is given twice`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

/** The handlers add-table may name: the built-in ones, and those of a worker config file. */
async function handlersOf(configFile: string | undefined): Promise<HandlerRegistry> {
  if (!configFile) return new (await import('../handlers/registry.js')).HandlerRegistry();
  // Loaded here: other commands need neither zod nor the user's modules.
  const [{ loadHandlers, loadWorkerConfig }, { ConfigError }] = await Promise.all([import('./worker-config.js'), import('@pgferry/queue/daemon')]);
  try {
    return (await loadHandlers(loadWorkerConfig(configFile))).registry;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message.replace(/\n\s*/g, ' '), EXIT.USAGE);
    throw err;
  }
}

interface AddTableFlags {
  provider: string;
  subscriber: string;
  node: string;
  dest?: string;
  columns?: string;
  key?: string;
  ignore?: string;
  filter?: string;
  mode?: 'statement' | 'row';
  create?: boolean;
  handler?: string;
  handlerArg?: Record<string, string>;
  config?: string;
  mergeColumn?: string;
  captureApplied?: boolean;
}

export function tableCommands(replicate: Command): void {
  examples(
    replicate
      .command('add-table')
      .description('replicate a table: capture it on the provider, check or create it on the subscriber; the worker copies it, then applies its changes')
      .argument('<table>', 'the table on the provider (schema.name; default schema public)')
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--dest <table>', 'the table on the subscriber (default: the same name)')
      .option('--columns <a,b>', 'replicate only these columns (must include the key)')
      .option('--key <a,b>', 'key columns, for a table without a primary key (NOT NULL on both sides; on the subscriber a primary key or unique index on them)')
      .option('--ignore <a,b>', 'columns left out of captured row images')
      .option('--filter <sql>', 'capture only rows matching this SQL condition')
      .addOption(
        new Option('--mode <mode>', 'capture triggers per statement or per row (default: as captured already, else statement)').choices(['statement', 'row']),
      )
      .option('--create', "create the subscriber table from the provider's definition when it does not exist")
      .option('--handler <name>', 'how its changes land on the subscriber (default row: rows into dest); a user handler is named in the worker config (--config)')
      .option('--handler-arg <key=value>', "an argument of the handler (repeat it for several)", handlerArg)
      .option('--config <file>', "the worker's config file, where user handler modules are named (handlers:)")
      .option('--merge-column <name>', "federation: the subscriber table's text column holding each row's source (the leaf's name); every leaf writing the table names the same column")
      .option('--capture-applied', "the replicator's writes into the table are captured by the subscriber's own capture of it (a merged table feeding a queue on the target)")
      .action(
        run(async (ctx, dbs, table: string, o: AddTableFlags) => {
          const { addTable } = await import('../admin/tables.js');
          const handlers = await handlersOf(o.config);
          const t = await addTable(await dbs.provider(o.provider), await dbs.subscriber(o.subscriber), {
            subscription: o.node,
            table,
            dest: o.dest,
            columns: list(o.columns),
            keyColumns: list(o.key),
            ignoreColumns: list(o.ignore),
            filter: o.filter,
            mode: o.mode,
            create: o.create,
            handler: o.handler,
            handlerArgs: o.handlerArg,
            handlers,
            mergeColumn: o.mergeColumn,
            captureApplied: o.captureApplied,
          });
          if (ctx.json) return ctx.printJson(t);
          const handler = t.handler === 'row' ? '' : `, handler ${t.handler}${Object.keys(t.handlerArgs).length ? ` (${formatHandlerArgs(t.handlerArgs)})` : ''}`;
          const merge = t.mergeColumn === null ? '' : `, merged: ${t.mergeColumn} = '${t.subscription}'`;
          ctx.say(`added ${t.source} -> ${t.dest} (${t.state}${handler}${merge})`);
        }),
      ),
    [
      'add-table --provider $P --subscriber $S --node leaf1 public.accounts --create',
      "add-table --provider $P --subscriber $S --node leaf1 events --key id --ignore payload --filter \"kind <> 'debug'\" --mode row",
      'add-table --provider $SHARD2 --subscriber $S --node shard2 orders --create --merge-column source',
      'add-table --provider $P --subscriber $S --node leaf1 orders --handler audit --handler-arg audit_table=orders_audit --config /etc/pgferry/replicate.json',
    ],
  );

  examples(
    replicate
      .command('handlers')
      .description("the handlers add-table can name: the built-in ones, and with --config the user modules of the worker's config")
      .option('--config <file>', "the worker's config file (handlers:)")
      .action(
        run(async (ctx, _dbs, o: { config?: string }) => {
          const registry = await handlersOf(o.config);
          const rows = registry.names().map((name) => ({ name, description: registry.definition(name).description }));
          ctx.printRows(rows, [
            { header: 'NAME', value: (r) => r.name },
            { header: 'DESCRIPTION', value: (r) => r.description },
          ]);
        }),
      ),
    ['handlers --config /etc/pgferry/replicate.json', 'handlers --json'],
  );

  examples(
    replicate
      .command('remove-table')
      .description('stop replicating a table (the subscriber table and its data stay)')
      .argument('<table>', 'the table (provider or subscriber name)')
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--drop-capture', 'stop capturing it on the provider too (every leaf of the queue loses it)')
      .action(
        run(async (ctx, dbs, table: string, o: { provider: string; subscriber: string; node: string; dropCapture?: boolean }) => {
          const { removeTable } = await import('../admin/tables.js');
          await removeTable(await dbs.provider(o.provider), await dbs.subscriber(o.subscriber), { subscription: o.node, table, dropCapture: o.dropCapture });
          if (ctx.json) return ctx.printJson({ removed: table });
          ctx.say(`removed ${table}`);
        }),
      ),
    ['remove-table --provider $P --subscriber $S --node leaf1 public.accounts --drop-capture'],
  );

  examples(
    replicate
      .command('resync')
      .description('copy a table again from scratch (the worker empties it, copies it and catches up)')
      .argument('<table>', 'the table (provider or subscriber name)')
      .addOption(subscriberOption())
      .addOption(leafOption())
      .action(
        run(async (ctx, dbs, table: string, o: { subscriber: string; node: string }) => {
          const { resyncTable } = await import('../admin/tables.js');
          await resyncTable(await dbs.subscriber(o.subscriber), { subscription: o.node, table });
          if (ctx.json) return ctx.printJson({ resync: table });
          ctx.say(`${table} will be copied again`);
        }),
      ),
    ['resync --subscriber $S --node leaf1 public.accounts'],
  );

  examples(
    replicate
      .command('tables')
      .description("list the subscription's tables: their states (in-copy, catching-up, ok) and handlers")
      .addOption(subscriberOption())
      .addOption(leafOption())
      .action(
        run(async (ctx, dbs, o: { subscriber: string; node: string }) => {
          const [{ subscriberNode }, { listTables }] = await Promise.all([import('../admin/nodes.js'), import('../admin/tables.js')]);
          const subscriber = await dbs.subscriber(o.subscriber);
          await subscriberNode(subscriber, o.node); // an unknown leaf is an error, not "no tables"
          const ts = await listTables(subscriber, o.node);
          if (ctx.json) return ctx.printJson(ts);
          ctx.say(renderTables(ts));
          if (!ts.length) ctx.say('(no tables)');
        }),
      ),
    ['tables --subscriber $S --node leaf1', 'tables --subscriber $S --node leaf1 --json'],
  );
}
