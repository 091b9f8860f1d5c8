/**
 * Handlers by name: the built-in ones, and user handlers loaded from modules named in the
 * worker's configuration. A table's handler is made once per (table, handler, arguments)
 * and reused for every batch.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HandlerArgsError, HandlerNotFoundError } from '../errors.js';
import type { SubscribedTable } from '../state/subscribed-table.js';
import { aggregateHandler } from './aggregate.js';
import { partitionHandler } from './partition.js';
import { requeueHandler } from './requeue.js';
import { rowHandler } from './row.js';
import type { HandlerDefinition, TableHandler } from './types.js';

/** The handlers every worker knows. */
export const BUILT_IN_HANDLERS: readonly HandlerDefinition[] = [rowHandler, partitionHandler, aggregateHandler, requeueHandler];

export class HandlerRegistry {
  private readonly defs = new Map<string, HandlerDefinition>();
  private readonly made = new Map<string, TableHandler>();

  constructor(definitions: readonly HandlerDefinition[] = BUILT_IN_HANDLERS) {
    for (const d of definitions) this.register(d);
  }

  /** Add a handler (a user's): its name must not be taken. */
  register(def: HandlerDefinition): this {
    if (this.defs.has(def.name)) throw new HandlerArgsError(`a handler named "${def.name}" is registered already`);
    this.defs.set(def.name, def);
    return this;
  }

  names(): string[] {
    return [...this.defs.keys()];
  }

  definition(name: string): HandlerDefinition {
    const def = this.defs.get(name);
    if (!def) {
      throw new HandlerNotFoundError(`no handler named "${name}"`, {
        hint: `known handlers: ${this.names().join(', ')}; a user handler must be named in the worker's configuration (handlers:)`,
      });
    }
    return def;
  }

  /** The handler of `table` (made on first use, then reused while its handler and arguments stay). */
  handlerFor(table: SubscribedTable): TableHandler {
    const key = JSON.stringify([table.subscription, table.source, table.dest, table.columns, table.keyColumns, table.handler, table.handlerArgs]);
    let h = this.made.get(key);
    if (!h) {
      h = this.definition(table.handler).create(table, table.handlerArgs);
      this.made.set(key, h);
    }
    return h;
  }

  /**
   * A registry with the built-in handlers and the user handlers of `modules` (handler
   * name -> module path, relative to `baseDir`). A module exports the definition as its
   * default export or as `handler`; its name is the configuration's.
   */
  static async load(modules: Readonly<Record<string, string>> = {}, baseDir = process.cwd()): Promise<HandlerRegistry> {
    const registry = new HandlerRegistry();
    for (const [name, file] of Object.entries(modules)) {
      registry.register(await HandlerRegistry.loadModule(name, path.resolve(baseDir, file)));
    }
    return registry;
  }

  /**
   * The handler `name` exported by the module `file` (an absolute path). A file changed
   * since it was last imported is imported anew (a worker's reload picks up a fixed
   * handler); the modules it imports itself stay as first loaded.
   */
  static async loadModule(name: string, file: string): Promise<HandlerDefinition> {
    return { ...(await importHandler(name, file)), name };
  }
}

async function importHandler(name: string, file: string): Promise<HandlerDefinition> {
  let mod: { default?: unknown; handler?: unknown };
  try {
    const url = pathToFileURL(file);
    const st = await stat(file).catch(() => null);
    // ESM caches a module by URL: a version in the query imports a changed file again.
    if (st) url.search = `v=${st.mtimeMs}-${st.size}`;
    mod = (await import(url.href)) as typeof mod;
  } catch (err) {
    const ts = /\.[cm]?ts$/.test(file) ? ' (a TypeScript module needs a build to .js, or the worker run through tsx; outside a "type": "module" package, name it .mts)' : '';
    throw new HandlerArgsError(`cannot load handler "${name}" from ${file}${ts}: ${(err as Error).message}`, { cause: err });
  }
  const def = (mod.default ?? mod.handler) as Partial<HandlerDefinition> | undefined;
  if (!def || typeof def.create !== 'function') {
    throw new HandlerArgsError(`module ${file} (handler "${name}") exports no handler`, {
      hint: 'export default { description, create(table, args) { return { apply(ctx, changes) { ... } } } }',
    });
  }
  return { description: `user handler from ${file}`, ...def } as HandlerDefinition;
}
