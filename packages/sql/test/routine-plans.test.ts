/**
 * A LANGUAGE sql function with a SET clause (every pgferry routine pins search_path) is
 * never inlined and is planned again at every call: 70-140 us for a one-line lookup, where
 * PL/pgSQL keeps its plans for the session. Such functions may only be those that run
 * rarely (generating capture code, maintenance, status, a DBA's call); everything on the
 * path of an event, a tick or a batch is PL/pgSQL. A new SQL function fails here until it
 * is judged cold and listed, or rewritten.
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { rows } from './helpers.js';

/** The cold ones, and why. */
const COLD: Record<string, string> = {
  _blocking_session: 'maintenance (table rotation)',
  _capture_base_type: 'capture code generation',
  _capture_column_collation: 'DDL following (per DDL statement)',
  _capture_columns: 'DDL following (per DDL statement)',
  _capture_ddl_followed: 'capture code generation, DDL',
  _capture_from_sql: 'capture code generation',
  _capture_settings_free: 'capture code generation',
  _capture_source: 'capture code generation',
  _capture_unfollowed: 'DDL following (per DDL statement)',
  _rotation_blocked_by: 'maintenance (table rotation)',
  _tick_cuts: 'maintenance (tick cleanup)',
  _ticks_below_cut: 'maintenance (tick cleanup)',
  _xid8_near: 'maintenance (table rotation)',
  capture_tables: 'status, add-table',
  capture_value_settings: 'capture code generation; a client reads it once',
  event_retry: "a consumer's retry of one event (the batch path is event_retry of many)",
  maint_operations: 'maintenance',
  ticker: 'pg_cron, every second at most',
  version: 'install, status',
};

describe('routine plans', () => {
  const db = useTestDatabase();

  it('has no LANGUAGE sql function on a hot path (each is planned at every call)', async () => {
    const found = await rows<{ name: string }>(
      db.pool,
      `SELECT DISTINCT p.proname AS name FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
        WHERE p.pronamespace = 'pgferry'::regnamespace AND l.lanname = 'sql' AND p.proconfig IS NOT NULL ORDER BY 1`,
    );
    expect(found.map((r) => r.name)).toEqual(Object.keys(COLD).sort());
  });
});
