/**
 * The pg_cron recipe (deploy/pg_cron/pgferry-cron.sql) on a real PostgreSQL. The embedded
 * servers have no pg_cron, so a stand-in schema `cron` records what the recipe schedules
 * (cron.schedule's signature and cron.job_run_details' end_time, nothing else); the test
 * then runs each recorded command as pg_cron would (one top-level statement, outside a
 * transaction block) and checks what it does to pgferry's queues.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';

const RECIPE = readFileSync(fileURLToPath(new URL('../../deploy/pg_cron/pgferry-cron.sql', import.meta.url)), 'utf8');
/** pg_cron's schedules: 5-field cron or '[1-59] seconds'. */
const SCHEDULE = /^(([1-9]|[1-5]\d) seconds|(\S+ ){4}\S+)$/;

describe('pg_cron recipe', () => {
  const db = useTestDatabase();
  let jobs: Record<string, { schedule: string; command: string }> = {};

  beforeAll(async () => {
    await db.pool.query(`
      CREATE SCHEMA cron;
      CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, jobname text UNIQUE, schedule text NOT NULL, command text NOT NULL);
      CREATE TABLE cron.job_run_details (runid bigserial PRIMARY KEY, end_time timestamptz);
      CREATE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint LANGUAGE sql AS
        'INSERT INTO cron.job (jobname, schedule, command) VALUES ($1, $2, $3) RETURNING jobid';`);
    await db.pool.query(RECIPE);
    const { rows } = await db.pool.query<{ jobname: string; schedule: string; command: string }>('SELECT jobname, schedule, command FROM cron.job');
    jobs = Object.fromEntries(rows.map((r) => [r.jobname, { schedule: r.schedule, command: r.command }]));
  });

  it('schedules a ticker, maintenance and a history cleanup, in schedules pg_cron accepts', () => {
    expect(Object.keys(jobs).sort()).toEqual(['pgferry-cron-history', 'pgferry-maint', 'pgferry-ticker']);
    for (const [name, job] of Object.entries(jobs)) expect(job.schedule, name).toMatch(SCHEDULE);
    expect(jobs['pgferry-ticker']!.schedule).toBe('1 seconds');
  });

  it("the ticker's command ticks a queue with events for a waiting consumer, and not an idle one", async () => {
    const run = async (job: string) => (await db.pool.query(jobs[job]!.command)).rows;
    await db.pool.query(`SELECT pgferry.create_queue('orders'), pgferry.create_queue('idle')`);
    await db.pool.query(`SELECT pgferry.register_consumer('orders', 'billing'), pgferry.register_consumer('idle', 'nobody')`);
    await run('pgferry-ticker'); // the first tick of each queue
    const ticks = async (q: string) => Number((await db.pool.query(`SELECT count(*) FROM pgferry.tick t JOIN pgferry.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = $1`, [q])).rows[0].count);
    const idleBefore = await ticks('idle');
    await db.pool.query(`SELECT pgferry.insert_event('orders', 'order', '{"id": 1}')`);
    expect(await run('pgferry-ticker')).toEqual([{ ticker: 1 }]);
    expect(await ticks('idle')).toBe(idleBefore);

    const batch = (await db.pool.query(`SELECT pgferry.next_batch('orders', 'billing') AS b`)).rows[0].b as string;
    expect(batch).not.toBeNull();
    const events = (await db.pool.query(`SELECT ev_type, ev_data FROM pgferry.get_batch_events($1)`, [batch])).rows;
    expect(events).toEqual([{ ev_type: 'order', ev_data: '{"id": 1}' }]);
    await db.pool.query('SELECT pgferry.finish_batch($1)', [batch]);
  });

  it("maintenance's command runs as pg_cron runs it (a top-level CALL that commits), and the cleanup keeps a day", async () => {
    await db.pool.query(jobs['pgferry-maint']!.command);
    await db.pool.query(`INSERT INTO cron.job_run_details (end_time) VALUES (now() - interval '2 days'), (now() - interval '1 hour')`);
    await db.pool.query(jobs['pgferry-cron-history']!.command);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM cron.job_run_details')).rows[0].n).toBe(1);
  });
});
