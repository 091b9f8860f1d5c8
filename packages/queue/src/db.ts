/** Calls into the SQL layer, with its errors typed. */
import type pg from 'pg';
import { translateError, type Queryable } from '@pgferry/sql';

export type { Queryable };

/**
 * Run a query, turning pgferry's SQL errors into typed errors. With `name`, a prepared
 * statement: parsed and planned once per connection (see ProducerOptions.prepare).
 */
export async function q<R extends pg.QueryResultRow = pg.QueryResultRow>(
  db: Queryable,
  text: string,
  values?: unknown[],
  name?: string,
): Promise<R[]> {
  try {
    const res = name === undefined ? await db.query<R>(text, values) : await db.query<R>({ name, text, values });
    return res.rows;
  } catch (err) {
    throw translateError(err);
  }
}
