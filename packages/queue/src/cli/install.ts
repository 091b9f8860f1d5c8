/** install, upgrade, uninstall, version. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type pg from 'pg';
import { install, installPgq, installedVersion, knownMigrations, pgqInstalled, uninstall } from '@pgferry/sql';
import { schemaVersion, type AppliedMigration } from '../versions.js';
import { action, examples, CliError, EXIT } from './options.js';

/** The version of this package (the CLI's own). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** A component built on the SQL layer whose migrations `pgferry version` reports (the replicator's). */
export interface ComponentInfo {
  /** Its name in pgferry.component_migration. */
  name: string;
  /** The migrations this CLI's copy of it would apply (read when `version` runs). */
  migrations: () => number[];
  /** Install or upgrade it (pgferry first): `install` and `upgrade` run it where it is installed. */
  install: (db: pg.Pool) => Promise<unknown>;
}

/**
 * Upgrade the components already installed in the database (only those: a replicator
 * schema is created by create-root/-branch/-leaf, not by `pgferry install`): the ids of the
 * migrations each got, by component.
 */
async function upgradeComponents(pool: pg.Pool, components: ComponentInfo[]): Promise<Record<string, { appliedMigrations: number[] }>> {
  const installed = (await schemaVersion(pool)).components;
  const out: Record<string, { appliedMigrations: number[] }> = {};
  for (const c of components) {
    const had = new Set((installed[c.name] ?? []).map((m) => m.id));
    if (had.size === 0) continue;
    await c.install(pool);
    const after = (await schemaVersion(pool)).components[c.name] ?? [];
    out[c.name] = { appliedMigrations: after.map((m) => m.id).filter((id) => !had.has(id)) };
  }
  return out;
}

/** " (replicator: migrations applied: 10, 11)" for the components an install or upgrade touched. */
function componentsSaid(touched: Record<string, { appliedMigrations: number[] }>): string {
  return Object.entries(touched)
    .map(([name, t]) => ` (${name}: ${t.appliedMigrations.length ? `migrations applied: ${t.appliedMigrations.join(', ')}` : 'up to date'})`)
    .join('');
}

export function installCommands(program: Command, components: ComponentInfo[] = []): void {
  examples(
    program
      .command('install')
      .description('install pgferry (schema, functions, roles) in the database(s), or upgrade it and the replicator\'s schema where installed; safe to run again')
      .option('--pgq', 'also install the PGQ-compatible schemas pgq and pgq_coop (for programs written against PGQ)')
      .action(
        action(async (ctx, opts: { pgq?: boolean }) => {
          const rows = await ctx.rows(async (pool) => {
            const before = await installedVersion(pool);
            // The pgq schemas, once installed, are refreshed with pgferry (they wrap its functions).
            const pgq = opts.pgq === true || (await pgqInstalled(pool));
            const r = pgq ? await installPgq(pool) : await install(pool);
            return [
              {
                version: r.version,
                previous: before,
                appliedMigrations: r.applied,
                ddlFollowed: r.ddlFollowed,
                pgq,
                components: await upgradeComponents(pool, components),
              },
            ];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            const ddl = r.ddlFollowed
              ? 'DDL on captured tables is followed'
              : 'DDL on captured tables is not followed (no event triggers): use pgferry replicate execute';
            const pgq = r.pgq ? ', with the pgq schemas' : '';
            ctx.say(
              (r.previous
                ? `${where}pgferry ${r.version} installed${pgq} (was ${r.previous}; migrations applied: ${r.appliedMigrations.join(', ') || 'none'}); ${ddl}`
                : `${where}pgferry ${r.version} installed${pgq} (migrations applied: ${r.appliedMigrations.join(', ') || 'none'}); ${ddl}`) +
                componentsSaid(r.components),
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
      .description('apply the migrations and function updates this version brings (pgferry must be installed), also to the replicator\'s schema and the pgq schemas where they are installed')
      .action(
        action(async (ctx) => {
          const rows = await ctx.rows(async (pool) => {
            const before = await installedVersion(pool);
            if (!before) {
              throw new CliError('pgferry is not installed in this database; install it with `pgferry install`', EXIT.NOT_INSTALLED);
            }
            const pgq = await pgqInstalled(pool);
            const r = pgq ? await installPgq(pool) : await install(pool);
            return [{ version: r.version, previous: before, appliedMigrations: r.applied, pgq, components: await upgradeComponents(pool, components) }];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          for (const r of rows) {
            const where = r.database ? `${r.database}: ` : '';
            ctx.say(
              (r.appliedMigrations.length
                ? `${where}upgraded pgferry ${r.previous} -> ${r.version} (migrations applied: ${r.appliedMigrations.join(', ')})`
                : `${where}pgferry ${r.version}: schema up to date, functions refreshed`) +
                (r.pgq ? '; pgq schemas refreshed' : '') +
                componentsSaid(r.components),
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
      .description(
        'show the CLI version, the pgferry version installed in the database(s), and the migrations applied and pending (the SQL layer\'s and the replicator\'s)',
      )
      .action(
        action(async (ctx) => {
          const known = knownMigrations();
          const rows = await ctx.rows(async (pool) => {
            const v = await schemaVersion(pool);
            return [
              {
                installed: v.version,
                cli: cliVersion(),
                latestMigration: Math.max(...known),
                migrations: v.migrations,
                pendingMigrations: pending(v.version === null ? [] : v.migrations, known),
                components: Object.fromEntries(
                  componentNames(components, v.components).map((name) => {
                    const applied = v.components[name] ?? [];
                    const knownHere = components.find((c) => c.name === name)?.migrations() ?? [];
                    return [
                      name,
                      {
                        installed: applied.length > 0,
                        latestMigration: knownHere.length ? Math.max(...knownHere) : null,
                        migrations: applied,
                        pendingMigrations: applied.length ? pending(applied, knownHere) : [],
                      },
                    ];
                  }),
                ),
              },
            ];
          });
          if (ctx.json) return ctx.printJson(ctx.multi ? rows : rows[0]);
          const names = [...new Set(rows.flatMap((r) => Object.keys(r.components)))];
          ctx.printRows(rows, [
            { header: 'CLI', value: (r) => r.cli },
            { header: 'INSTALLED', value: (r) => r.installed ?? 'not installed (run `pgferry install`)' },
            { header: 'MIGRATIONS', value: (r) => (r.installed === null ? '' : describeMigrations(r.migrations, r.pendingMigrations, 'pgferry upgrade')) },
            ...names.map((name) => ({
              header: name.toUpperCase(),
              value: (r: (typeof rows)[number]) => {
                const c = r.components[name];
                return c?.installed ? describeMigrations(c.migrations, c.pendingMigrations, 'pgferry upgrade') : 'not installed';
              },
            })),
          ]);
        }),
      ),
    [
      'pgferry version',
      'pgferry version --json --db postgres://db1/app --db postgres://db2/app',
      'pgferry version --db $SUBSCRIBER   # also the replicator\'s migrations there',
    ],
  );
}

/** Ids in `known` not among `applied`. */
function pending(applied: AppliedMigration[], known: number[]): number[] {
  const have = new Set(applied.map((m) => m.id));
  return known.filter((id) => !have.has(id));
}

/** The components this CLI knows, then any other one recorded in the database. */
function componentNames(known: ComponentInfo[], recorded: Record<string, unknown>): string[] {
  return [...new Set([...known.map((c) => c.name), ...Object.keys(recorded)])];
}

/** "8 applied (latest 008 prompt_ticks_pending_age), up to date" or "...; 2 pending (009, 010): ...". */
function describeMigrations(applied: AppliedMigration[], pendingIds: number[], fix: string): string {
  const latest = applied[applied.length - 1];
  const head = latest ? `${applied.length} applied (latest ${String(latest.id).padStart(3, '0')} ${latest.name})` : 'none applied';
  if (pendingIds.length === 0) return `${head}, up to date`;
  return `${head}; ${pendingIds.length} pending (${pendingIds.map((id) => String(id).padStart(3, '0')).join(', ')}): ${fix}`;
}
