/** install, upgrade, uninstall, version. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { install, installPgq, installedVersion, knownMigrations, uninstall } from '@pgferry/sql';
import { action, examples, CliError, EXIT } from './options.js';

/** The version of this package (the CLI's own). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function installCommands(program: Command): void {
  examples(
    program
      .command('install')
      .description('install pgferry (schema, functions, roles) in the database(s); safe to run again')
      .option('--pgq', 'also install the PGQ-compatible schemas pgq and pgq_coop (for programs written against PGQ)')
      .action(
        action(async (ctx, opts: { pgq?: boolean }) => {
          const rows = await ctx.rows(async (pool) => {
            const before = await installedVersion(pool);
            const r = opts.pgq ? await installPgq(pool) : await install(pool);
            return [{ version: r.version, previous: before, appliedMigrations: r.applied, pgq: opts.pgq === true }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            const pgq = r.pgq ? ', with the pgq schemas' : '';
            ctx.say(
              r.previous
                ? `${where}pgferry ${r.version} installed${pgq} (was ${r.previous}; migrations applied: ${r.appliedMigrations.join(', ') || 'none'})`
                : `${where}pgferry ${r.version} installed${pgq} (migrations applied: ${r.appliedMigrations.join(', ') || 'none'})`,
            );
          }
        }),
      ),
    [
      'pgferry install --db postgres://admin@db1/app',
      'PGFERRY_DB="postgres://db1/app postgres://db2/app" pgferry install',
      'pgferry install --pgq --db postgres://admin@db1/app    # PGQ consumers and triggers run unchanged',
    ],
  );

  examples(
    program
      .command('upgrade')
      .description('apply the migrations and function updates this version brings (pgferry must be installed)')
      .action(
        action(async (ctx) => {
          const rows = await ctx.rows(async (pool) => {
            const before = await installedVersion(pool);
            if (!before) {
              throw new CliError('pgferry is not installed in this database; install it with `pgferry install`', EXIT.NOT_INSTALLED);
            }
            const r = await install(pool);
            return [{ version: r.version, previous: before, appliedMigrations: r.applied }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            ctx.say(
              r.appliedMigrations.length
                ? `${where}upgraded pgferry ${r.previous} -> ${r.version} (migrations applied: ${r.appliedMigrations.join(', ')})`
                : `${where}pgferry ${r.version}: schema up to date, functions refreshed`,
            );
          }
        }),
      ),
    ['pgferry upgrade --db postgres://admin@db1/app'],
  );

  examples(
    program
      .command('uninstall')
      .description('remove pgferry and ALL its queues, events and consumers from the database(s)')
      .option('--yes', 'really do it (required)')
      .action(
        action(async (ctx, opts: { yes?: boolean }) => {
          if (!opts.yes) throw new CliError('uninstall drops every queue and its events: add --yes to confirm', EXIT.USAGE);
          const rows = await ctx.rows(async (pool) => {
            const before = await installedVersion(pool);
            await uninstall(pool);
            return [{ uninstalled: before !== null, previousVersion: before }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            ctx.say(r.uninstalled ? `${where}pgferry ${r.previousVersion} uninstalled` : `${where}pgferry was not installed`);
          }
        }),
      ),
    ['pgferry uninstall --db postgres://admin@db1/app --yes'],
  );

  examples(
    program
      .command('version')
      .description('show the CLI version and the pgferry version installed in the database(s)')
      .action(
        action(async (ctx) => {
          const latest = Math.max(...knownMigrations());
          const rows = await ctx.rows(async (pool) => {
            const v = await installedVersion(pool);
            return [{ installed: v, cli: cliVersion(), latestMigration: latest }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          ctx.printRows(rows, [
            { header: 'CLI', value: (r) => r.cli },
            { header: 'INSTALLED', value: (r) => r.installed ?? 'not installed (run `pgferry install`)' },
          ]);
        }),
      ),
    ['pgferry version', 'pgferry version --json --db postgres://db1/app --db postgres://db2/app'],
  );
}
