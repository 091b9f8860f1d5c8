// Launcher for pgferry's command-line programs. In the repository (src/ next to bin/), it
// runs the TypeScript sources, also after `pnpm build`: tsx compiles them, and a resolve
// hook adds the "source" export condition so workspace packages resolve to their sources
// too, as `tsx --conditions=source` would. So a test or a developer never runs a stale or
// half-written dist/ (the package test builds dist/ while other tests run the binary). An
// installed package ships no src/ (see "files" in package.json): it runs its dist/ entry.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'node:module';

/** Import `source` (a file URL) through tsx if it exists, else `built`. */
export async function launch(built, source) {
  if (!existsSync(fileURLToPath(source))) {
    await import(built.href);
    return;
  }
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  const hook =
    'export async function resolve(s, c, next) {' +
    " return next(s, c.conditions.includes('source') ? c : { ...c, conditions: ['source', ...c.conditions] }); }";
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import(source.href);
}
