/** Connection helpers: callers own connections and transactions (node-postgres style). */
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

/** Run `fn` in a transaction on `client`: COMMIT on success, ROLLBACK on error. */
export async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw translateError(err);
  }
}

/** Check out a pool client for `fn`; a client that saw a connection error is destroyed. */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // Checked-out clients have no 'error' listener; a lost connection must not crash the process.
  const ignore = () => undefined;
  client.on('error', ignore);
  let broken: unknown;
  try {
    return await fn(client);
  } catch (err) {
    if (isConnectionError(err)) broken = err;
    throw err;
  } finally {
    client.off('error', ignore);
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/** Errors after which a connection cannot be used again (server gone, network, admin kill). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; cause?: unknown };
  const code = e.code ?? (e.cause as { code?: string } | undefined)?.code;
  if (code && /^(08|57P0[123])/.test(code)) return true;
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'].includes(code)) return true;
  return /Connection terminated|connection is closed|Client has encountered a connection error|not queryable/i.test(
    e.message,
  );
}

/** Sleep for `ms`, returning early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
