#!/usr/bin/env node
// pgferry CLI launcher. A built package runs dist/cli/main.js. In the repository (no
// dist/), it runs the TypeScript sources: tsx compiles them, and a resolve hook adds the
// "source" export condition so workspace packages (@pgferry/sql) resolve to their sources
// too, as `tsx --conditions=source` would.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  const hook =
    'export async function resolve(s, c, next) {' +
    " return next(s, c.conditions.includes('source') ? c : { ...c, conditions: ['source', ...c.conditions] }); }";
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
