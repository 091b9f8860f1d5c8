/**
 * Typed errors for pgferry's SQL errors. The SQL layer raises its own SQLSTATEs (class
 * "PF") with a message naming the thing and a hint saying what to do.
 */
export class PgferryError extends Error {
  override name = 'PgferryError';
  /** SQLSTATE when the error came from the server. */
  readonly code: string | undefined;
  readonly hint: string | undefined;
  /** The message without the hint. */
  readonly reason: string;
  constructor(message: string, options: { code?: string; hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message} (${options.hint})` : message, { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
    this.reason = message;
  }
}
/** PF001: the queue does not exist. */
export class QueueNotFoundError extends PgferryError {
  override name = 'QueueNotFoundError';
}
/** PF002: the consumer is not registered on the queue. */
export class ConsumerNotFoundError extends PgferryError {
  override name = 'ConsumerNotFoundError';
}
/** PF003: a bad name, setting or argument. */
export class InvalidArgumentError extends PgferryError {
  override name = 'InvalidArgumentError';
}
/** PF005: the batch is not open (finished already, or taken over). */
export class BatchNotFoundError extends PgferryError {
  override name = 'BatchNotFoundError';
}
/** PF006: the operation is not allowed in the current state. */
export class InvalidStateError extends PgferryError {
  override name = 'InvalidStateError';
}
/** PF007: the session user may not do this (another role's consumer, a capture-only queue). */
export class PermissionDeniedError extends PgferryError {
  override name = 'PermissionDeniedError';
}
/** The pgferry schema is not installed in the database. */
export class NotInstalledError extends PgferryError {
  override name = 'NotInstalledError';
}

const byCode: Record<string, new (m: string, o: { code?: string; hint?: string; cause?: unknown }) => PgferryError> = {
  PF001: QueueNotFoundError,
  PF002: ConsumerNotFoundError,
  PF003: InvalidArgumentError,
  PF005: BatchNotFoundError,
  PF006: InvalidStateError,
  PF007: PermissionDeniedError,
};

interface PgLikeError {
  code?: string;
  message: string;
  hint?: string;
}

function isPgError(err: unknown): err is PgLikeError {
  return typeof err === 'object' && err !== null && 'message' in err && 'code' in err;
}

/**
 * Turn a server error into a typed pgferry error where it is one of ours (or the schema is
 * missing); other errors are returned unchanged.
 */
export function translateError(err: unknown): unknown {
  if (!isPgError(err) || err instanceof PgferryError) return err;
  const cls = err.code ? byCode[err.code] : undefined;
  if (cls) return new cls(err.message, { code: err.code, hint: err.hint, cause: err });
  // 3F000 invalid_schema_name, 42883 undefined_function on pgferry.*
  if ((err.code === '3F000' || err.code === '42883' || err.code === '42P01') && /pgferry/.test(err.message)) {
    return new NotInstalledError(`pgferry is not installed in this database (${err.message})`, {
      code: err.code,
      hint: 'install it with `pgferry install` or `await install(pool)` from @pgferry/sql',
      cause: err,
    });
  }
  return err;
}
