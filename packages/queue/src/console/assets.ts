/**
 * The page's files (plain HTML, JS and CSS in packages/queue/console/, shipped with the
 * package like its sql/): read once, served with their type. Nothing comes from a CDN.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = new URL('../../console/', import.meta.url);

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, { body: Buffer; type: string }>();

/** The asset served at `path`, if there is one. */
export function asset(path: string): { body: Buffer; type: string } | undefined {
  const f = FILES[path];
  if (!f) return undefined;
  let a = cache.get(path);
  if (!a) {
    a = { body: readFileSync(fileURLToPath(new URL(f.file, DIR))), type: f.type };
    cache.set(path, a);
  }
  return a;
}
