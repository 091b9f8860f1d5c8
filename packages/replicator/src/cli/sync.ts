/** compare (and repair) a table on both sides; execute a SQL file in stream order. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CliError, EXIT } from '@pgferry/queue/cli';
import { examples, leafOption, providerOption, run, subscriberOption } from './options.js';

export function syncCommands(replicate: Command): void {
  examples(
    replicate
      .command('compare')
      .description(
        'compare a table with its copy at one tick, without locking writers (the stream pauses at that tick only until the subscriber has read it); exit 1 when they differ',
      )
      .argument('<table>', 'the table (provider or subscriber name)')
      .addOption(providerOption())
      .addOption(subscriberOption())
      .addOption(leafOption())
      .option('--repair', 'make the subscriber equal to the provider at the compared tick (differing rows copied, extra ones deleted)')
      .option('--repair-sql <file>', 'instead, write the fixes to FILE as an SQL script for review, to run on the subscriber (it refuses once the subscription has moved past the compared tick)')
      .addOption(new Option('--max-keys <n>', 'differing keys listed per kind').argParser(Number).default(1000))
      .action(
        run(async (ctx, dbs, table: string, o: { provider: string; subscriber: string; node: string; repair?: boolean; repairSql?: string; maxKeys: number }) => {
          if (o.repair && o.repairSql) throw new CliError('give --repair or --repair-sql, not both', EXIT.USAGE);
          const { compareTable } = await import('../sync/compare.js');
          const [provider, subscriber] = [await dbs.provider(o.provider), await dbs.subscriber(o.subscriber)];
          let last = '';
          const r = await compareTable(provider, subscriber, {
            subscription: o.node,
            table,
            repair: o.repair,
            repairSql: o.repairSql !== undefined,
            maxKeys: o.maxKeys,
            // Progress on stderr, one line per phase: stdout stays the result.
            onProgress: (p) => {
              const line = `${p.table}: ${p.phase}${p.tick ? ` at tick ${p.tick}` : ''}${p.phase === 'waiting' && p.subscriberTick ? ` (subscriber at ${p.subscriberTick})` : ''}`;
              if (line !== last && !ctx.json) process.stderr.write(`${line}\n`);
              last = line;
            },
          });
          if (o.repairSql && r.repairSql) writeFileSync(o.repairSql, r.repairSql);
          if (ctx.json) ctx.printJson(r);
          else {
            ctx.say(`${r.table} -> ${r.dest} at tick ${r.tick}: ${r.equal ? 'equal' : 'DIFFERENT'} (${r.providerRows} rows on the provider, ${r.subscriberRows} on the subscriber, ${(r.elapsedMs / 1000).toFixed(1)} s)`);
            for (const [what, keys] of [['missing on the subscriber', r.missing], ['extra on the subscriber', r.extra], ['changed', r.changed]] as const) {
              if (keys.length) ctx.say(`  ${what} (${keys.length}${r.truncated ? '+' : ''}): ${keys.join(' ')}`);
            }
            if (r.repaired) ctx.say(`  repaired: ${r.repaired.deleted} row(s) deleted, ${r.repaired.written} written`);
            if (o.repairSql && r.repairSql) ctx.say(`  fixes written to ${o.repairSql}: review it, then run it on the subscriber (psql -v ON_ERROR_STOP=1 -f ${o.repairSql})`);
          }
          if (!r.equal && !r.repaired) process.exitCode = EXIT.FAILED;
        }),
      ),
    [
      'compare --provider $P --subscriber $S --node leaf1 public.accounts',
      'compare --provider $P --subscriber $S --node leaf1 public.accounts --repair --json',
      'compare --provider $P --subscriber $S --node leaf1 public.accounts --repair-sql fix.accounts.sql',
    ],
  );

  examples(
    replicate
      .command('execute')
      .description('run a SQL file (DDL) on the provider and put it into the stream: every subscriber runs it at the same point; the same file again is skipped')
      .argument('<files...>', 'SQL files, run in the order given, each in its own transaction (named by their file name)')
      .addOption(providerOption())
      .action(
        run(async (ctx, dbs, files: string[], o: { provider: string }) => {
          const { executeSql } = await import('../admin/execute.js');
          const texts = files.map((f) => {
            try {
              return { name: path.basename(f), sql: readFileSync(f, 'utf8') };
            } catch (err) {
              throw new CliError(`cannot read ${f}: ${(err as Error).message}`, EXIT.USAGE);
            }
          });
          const provider = await dbs.provider(o.provider);
          const results = [];
          for (const t of texts) {
            const r = await executeSql(provider, t);
            results.push(r);
            if (!ctx.json) ctx.say(`${r.name}: ${r.status === 'executed' ? 'executed, in the stream' : 'executed before: skipped'}`);
          }
          if (ctx.json) ctx.printJson(results);
        }),
      ),
    ['execute --provider $P migrations/0042_add_note.sql'],
  );
}
