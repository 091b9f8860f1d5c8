/**
 * Runs an SQL script statement by statement on one session and records what each returned
 * (column names and values as PostgreSQL's text, or the error message): the differential
 * test's way of comparing pgferry's pgq schema with the real PGQ.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

export interface Step {
  sql: string;
  columns?: string[];
  rows?: (string | null)[][];
  /** For a command that returns no rows: its row count (INSERT, UPDATE, MOVE ...). */
  rowCount?: number | null;
  error?: string;
}

/** Every value as its text form, whatever its type: the two servers are compared as text. */
const asText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export const DIFFERENTIAL_SCRIPT = new URL('./fixtures/pgq-differential.sql', import.meta.url);

/** The script's statements: each ends with ";" at the end of a line; "--" lines are comments. */
export function statements(script: string): string[] {
  const body = script
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('--'))
    .join('\n');
  return body
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export async function runScript(url: string, script = readFileSync(DIFFERENTIAL_SCRIPT, 'utf8')): Promise<Step[]> {
  const c = new pg.Client({ connectionString: url, types: asText });
  c.on('error', () => undefined);
  await c.connect();
  const steps: Step[] = [];
  try {
    for (const sql of statements(script)) {
      try {
        const res = await c.query({ text: sql, rowMode: 'array' });
        steps.push(
          res.fields.length
            ? { sql, columns: res.fields.map((f) => f.name), rows: res.rows as (string | null)[][] }
            : { sql, rowCount: res.rowCount },
        );
      } catch (err) {
        steps.push({ sql, error: (err as Error).message });
      }
    }
  } finally {
    await c.end();
  }
  return steps;
}
