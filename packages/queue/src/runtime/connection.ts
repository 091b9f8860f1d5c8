/**
 * Connections: check a client out and back in (destroyed when its connection broke), run a
 * transaction, tell a lost connection from other errors, and bound waits on one. Callers
 * own connections and transactions (node-postgres style).
 */
import type pg from 'pg';
import { translateError } from '@pgferry/sql';

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

/**
 * Check out a pool client for `fn`, with an 'error' listener while it is out (node-postgres
 * emits 'error' on a checked-out client whose connection is lost, and with no listener that
 * crashes the process). A client that saw a connection error is destroyed, not reused; so
 * is one that failed with any error `discardOn` names (one left in the middle of a COPY, say).
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: { discardOn?: (err: unknown) => boolean } = {},
): Promise<T> {
  const client = await pool.connect();
  const ignore = () => undefined;
  client.on('error', ignore);
  let discard: Error | undefined;
  try {
    return await fn(client);
  } catch (err) {
    if (isConnectionError(err) || options.discardOn?.(err)) discard = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off('error', ignore);
    client.release(discard);
  }
}

/** Check out a client of `pool` and run `fn` in a transaction on it (see withClient, inTransaction). */
export function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, (client) => inTransaction(client, () => fn(client)));
}

/** Errors after which a connection cannot be used again (server gone, network, admin kill). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; cause?: unknown };
  const code = e.code ?? (e.cause as { code?: string } | undefined)?.code;
  if (code && /^(08|57P0[123])/.test(code)) return true;
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'].includes(code)) return true;
  return (
    /Connection terminated|connection is closed|Client has encountered a connection error|not queryable|timeout exceeded when trying to connect|Query read timeout|^timeout expired$/i.test(
      e.message,
    ) || (e.cause !== err && isConnectionError(e.cause))
  );
}

/** A connection found lost or unanswering by the client itself (code ETIMEDOUT or ECONNRESET). */
export class ConnectionLostError extends Error {
  constructor(
    message: string,
    readonly code: 'ETIMEDOUT' | 'ECONNRESET',
  ) {
    super(message);
    this.name = 'ConnectionLostError';
  }
}

interface ClientInternals {
  _ending?: boolean;
  _ended?: boolean;
  _queryable?: boolean;
  connection?: { stream?: { destroy(): void } };
}

/** The client lost its connection already (its 'error' or 'end' was emitted). */
export function isClientBroken(client: pg.ClientBase): boolean {
  const c = client as unknown as ClientInternals;
  return c._queryable === false || c._ended === true || c._ending === true;
}

/**
 * Close a client's socket now: every query on it fails (with 'Connection terminated'),
 * whatever the server does; the way to unblock work on a stalled or half-open connection.
 */
export function destroyConnection(client: pg.ClientBase): void {
  (client as unknown as ClientInternals).connection?.stream?.destroy();
}

/**
 * `work` (something running on `client`), bounded: it rejects as soon as the client loses
 * its connection ('error' or 'end': node-postgres leaves a cursor read or close pending
 * forever when the socket goes between its messages) and, with `timeoutMs`, when no answer
 * came in that time, after closing the socket (a stalled or half-open connection answers
 * nothing and errs nothing). A connection error either way (see isConnectionError).
 */
export function untilLost<T>(client: pg.ClientBase, work: Promise<T>, timeoutMs: number | undefined, what: string): Promise<T> {
  work.catch(() => undefined); // settled later or never: never unhandled
  if (isClientBroken(client)) {
    return Promise.reject(new ConnectionLostError(`Connection terminated before ${what}`, 'ECONNRESET'));
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      client.off('error', onLost);
      client.off('end', onEnd);
    };
    const onLost = (err: unknown) => {
      done();
      reject(
        isConnectionError(err)
          ? err
          : new ConnectionLostError(`Connection terminated during ${what}: ${err instanceof Error ? err.message : String(err)}`, 'ECONNRESET'),
      );
    };
    const onEnd = () => onLost(new ConnectionLostError(`Connection terminated during ${what}`, 'ECONNRESET'));
    client.on('error', onLost);
    client.on('end', onEnd);
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        done();
        destroyConnection(client);
        reject(new ConnectionLostError(`Connection terminated: no answer to ${what} within ${timeoutMs} ms`, 'ETIMEDOUT'));
      }, timeoutMs);
    }
    work.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}
