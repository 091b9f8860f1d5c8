/**
 * One version for the four published packages and the SQL layer (CHANGELOG.md,
 * "Versioning"): their package.json files, pgferry.version() in version.sql, their
 * dependencies on each other, and a CHANGELOG.md section for it (or [Unreleased] before
 * the first release).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGES, ROOT } from './packed.js';

const read = (...p: string[]) => readFileSync(path.join(ROOT, ...p), 'utf8');
type Exports = string | { [condition: string]: Exports };
const manifest = (p: string) =>
  JSON.parse(read('packages', p, 'package.json')) as { version: string; dependencies?: Record<string, string>; exports?: Exports; publishConfig?: { exports?: Exports } };
/** An exports map without its "source" conditions (the repository's TypeScript sources). */
const withoutSource = (e: Exports): Exports =>
  typeof e === 'string' ? e : Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'source').map(([k, v]) => [k, withoutSource(v)]));

describe('versions', () => {
  const version = manifest('sql').version;

  it('the packages, their dependencies on each other and pgferry.version() agree', () => {
    expect(version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    for (const p of PACKAGES) {
      const m = manifest(p);
      expect(m.version, `packages/${p}`).toBe(version);
      // Packed as the exact version (pnpm pack): never a range or another version.
      for (const [dep, range] of Object.entries(m.dependencies ?? {})) if (dep.startsWith('@pgferry/')) expect(range, `${p} -> ${dep}`).toBe('workspace:*');
    }
    const sqlVersion = /SELECT '([^']+)'::text/.exec(read('packages', 'sql', 'sql', 'functions', 'version.sql'))?.[1];
    expect(sqlVersion).toBe(version);
  });

  it('the packed exports are the repository\'s without "source" (src/ is not shipped)', () => {
    // pnpm pack writes publishConfig.exports as exports: a project of a user that resolves
    // the "source" condition itself (a common monorepo setting) must not be sent to src/.
    for (const p of PACKAGES) {
      const m = manifest(p);
      if (m.exports === undefined) continue;
      expect(m.publishConfig?.exports, `packages/${p} publishConfig.exports`).toEqual(withoutSource(m.exports));
    }
  });

  it('CHANGELOG.md has a section for it, or [Unreleased] before it is released, newest first', () => {
    const headings = [...read('CHANGELOG.md').matchAll(/^## \[([^\]]+)\](.*)$/gm)].map((m) => ({ name: m[1]!, rest: m[2]! }));
    expect(headings.length).toBeGreaterThan(0);
    const released = headings.filter((h) => h.name !== 'Unreleased');
    for (const h of released) {
      expect(h.name).toMatch(/^\d+\.\d+\.\d+/);
      expect(h.rest, h.name).toMatch(/^ - \d{4}-\d{2}-\d{2}$/);
    }
    if (headings[0]!.name !== 'Unreleased') expect(headings[0]!.name).toBe(version);
    else expect(released.every((h) => h.name !== version) || released[0]!.name === version).toBe(true);
    const order = released.map((h) => h.name.split(/[.-]/).slice(0, 3).map(Number));
    const sorted = [...order].sort((a, b) => b[0]! - a[0]! || b[1]! - a[1]! || b[2]! - a[2]!);
    expect(order).toEqual(sorted);
  });
});
