/**
 * pgferry's pgq schema against the real PGQ: one session of PGQ's API (queues, events with
 * extras, ticks, batches, cursors, retries, status, rewinds, logutriga/jsontriga/sqltriga
 * with their options, pgq_coop) gives, statement by statement, the same columns, values
 * and errors as PGQ 3.5 gave (recorded by pgq-record.ts on Debian's postgresql-15-pgq3;
 * see fixtures/pgq-differential.sql for what is left out and why).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installPgq } from '@pgferry/sql';
import { useTestDatabase } from '@pgferry/test/test-database';
import { runScript, type Step } from './pgq-script.js';

const recorded = JSON.parse(
  readFileSync(new URL('./fixtures/pgq-differential.real-pgq.json', import.meta.url), 'utf8'),
) as Step[];

describe('pgq schema: the same results as the real PGQ', () => {
  const db = useTestDatabase();
  beforeAll(async () => {
    await installPgq(db.pool);
  });

  it('answers every statement of the recorded PGQ session as PGQ 3.5 did', async () => {
    const ours = await runScript(db.url);
    expect(ours.map((s) => s.sql)).toEqual(recorded.map((s) => s.sql));
    for (let i = 0; i < recorded.length; i++) expect(ours[i], recorded[i]!.sql).toEqual(recorded[i]);
  });
});
