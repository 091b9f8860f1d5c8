/**
 * The runtime toolkit (packages/queue/src/runtime) is the one place for what every
 * long-running part needs. These checks keep the classes of defect it closed from coming
 * back through a hand-written copy:
 * - a pool client checked out without an 'error' listener (a lost connection then crashes
 *   the process: node-postgres emits 'error' on a checked-out client with no listener);
 * - retry waits, sleeps and identifier quoting written again.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const files = readdirSync(path.join(ROOT, 'packages'))
  .flatMap((pkg) => {
    try {
      return sources(path.join(ROOT, 'packages', pkg, 'src'));
    } catch {
      return [];
    }
  })
  .map((file) => ({ file: path.relative(ROOT, file), text: readFileSync(file, 'utf8') }));

const inRuntime = (file: string) => file.startsWith('packages/queue/src/runtime/');

describe('runtime toolkit usage', () => {
  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(40);
    expect(files.some((f) => inRuntime(f.file))).toBe(true);
  });

  it("checks out pool clients through withClient, or attaches an 'error' listener at once", () => {
    const bad: string[] = [];
    for (const { file, text } of files) {
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        // A pool checkout: `await x.connect()` where x is not a client being opened.
        const m = /await (?:this\.)?(\w+)\.connect\(\)/.exec(line);
        if (!m || /client$/i.test(m[1]!) || inRuntime(file)) return;
        const next = lines.slice(i + 1, i + 4).join('\n');
        if (!/\.on\('error'/.test(next)) bad.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('writes no retry doubling, sleep or identifier quoting of its own', () => {
    const bad: string[] = [];
    for (const { file, text } of files) {
      if (inRuntime(file)) continue;
      const checks: [RegExp, string][] = [
        [/\w+ \* 2, /, 'a retry doubling (use Backoff)'],
        [/function sleep\(|const sleep = /, 'a sleep (use sleep from the runtime)'],
        [/replace\(\/"\/g, '""'\)/, 'hand-written identifier quoting (use pg.escapeIdentifier)'],
        [/new pg\.Pool\(/, 'a pool made by hand (use createPool)'],
      ];
      for (const [re, what] of checks) if (re.test(text)) bad.push(`${file}: ${what}`);
    }
    expect(bad).toEqual([]);
  });
});
