// Launcher for pgferry's command-line programs. A built package runs its dist/ entry. In
// the repository (no dist/), it runs the TypeScript sources: tsx compiles them, and a
// resolve hook adds the "source" export condition so workspace packages resolve to their
// sources too, as `tsx --conditions=source` would.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

/** Import `built` (a file URL) if it exists, else `source` through tsx. */
export async function launch(built, source) {
  if (existsSync(built)) {
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
