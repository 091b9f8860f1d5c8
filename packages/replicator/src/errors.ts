/** Typed errors of the replicator. */
import { PgferryError } from '@pgferry/queue';

/** Bad input to a setup operation (add-table, create-leaf, ...): nothing was changed. */
export class ReplicationSetupError extends PgferryError {
  override name = 'ReplicationSetupError';
}

/**
 * A worker serves the subscription (it holds the subscription's lock on the subscriber):
 * the operation would pull the ground from under it. Stop the worker first.
 */
export class SubscriptionInUseError extends ReplicationSetupError {
  override name = 'SubscriptionInUseError';
}

/**
 * The replication state is not what the operation needs (a subscription with no position
 * on the subscriber, or no consumer on the provider's queue): set up or repaired by an
 * operator (create-leaf, drop-leaf), never by retrying.
 */
export class ReplicationStateError extends PgferryError {
  override name = 'ReplicationStateError';
}

/** The node or subscription named does not exist (or is not set up in that database). */
export class NodeNotFoundError extends PgferryError {
  override name = 'NodeNotFoundError';
}

/**
 * A change that could not be applied on the subscriber. The worker stops progressing (the
 * batch is rolled back and comes again) and retries with backoff until it applies.
 */
export class ApplyError extends PgferryError {
  override name = 'ApplyError';
  constructor(
    readonly table: string,
    readonly key: string | null,
    readonly eventId: string | null,
    readonly sqlError: string,
    options: { code?: string; cause?: unknown; handler?: string } = {},
  ) {
    super(
      `${options.handler && options.handler !== 'row' ? `handler "${options.handler}": ` : ''}` +
        `cannot apply ${key === null ? 'a change' : `key ${key}`} to table ${table}` +
        `${eventId === null ? '' : ` (event ${eventId})`}: ${sqlError}`,
      options,
    );
    this.handler = options.handler ?? 'row';
  }
  /** The handler that failed ('row' for the default one). */
  readonly handler: string;
}

/**
 * Federation: a change of one source would land on a row of another source of the same
 * table (the same key inserted on two providers, say). Never applied: the stream stops here
 * until an operator resolves the collision (on a provider or on the subscriber).
 */
export class MergeCollisionError extends ApplyError {
  override name = 'MergeCollisionError';
  constructor(
    table: string,
    /** The key as "(id)=(7)". */
    readonly keyText: string,
    key: string | null,
    eventId: string | null,
    /** The source (subscription) whose change collides. */
    readonly source: string,
    /** The source of the row already there (null: a row of no source). */
    readonly otherSource: string | null,
  ) {
    super(
      table,
      key,
      eventId,
      `key ${keyText} of ${table} from source "${source}" collides with the row of ${otherSource === null ? 'no source (its merge column is NULL)' : `source "${otherSource}"`}`,
    );
  }
}

/** add-table named a handler that is not built in nor in the worker's configuration. */
export class HandlerNotFoundError extends ReplicationSetupError {
  override name = 'HandlerNotFoundError';
}

/** A handler's arguments are missing or invalid: the message names the argument. */
export class HandlerArgsError extends ReplicationSetupError {
  override name = 'HandlerArgsError';
}

/**
 * A replicated table's columns changed on the provider outside `execute` (DDL run directly):
 * its captured changes no longer carry the table as it is. The stream stops before them
 * (nothing of the batch is applied) until the change is put into the stream.
 */
export class CaptureDriftError extends ReplicationStateError {
  override name = 'CaptureDriftError';
  constructor(
    readonly table: string,
    /** Columns the table has that its capture does not write. */
    readonly added: string[],
    /** Columns its capture writes that the table no longer has (renamed or dropped). */
    readonly gone: string[],
  ) {
    const list = (cols: string[]) => cols.map((c) => `"${c}"`).join(', ');
    super(
      `the columns of replicated table ${table} changed on the provider outside \`pgferry replicate execute\`` +
        `${added.length ? `: ${list(added)} not captured` : ''}${gone.length ? `${added.length ? ';' : ':'} ${list(gone)} gone (renamed or dropped)` : ''}` +
        '; the stream stops before its changes',
      {
        hint:
          'put the same change into the stream with `pgferry replicate execute FILE`, written to be a no-op where it is done already ' +
          '(ADD COLUMN IF NOT EXISTS; a rename in a DO block that ignores undefined_column): the stream goes on from there. ' +
          'Changes of the new columns made before it are not replicated: resync the table (or compare --repair) if they matter',
      },
    );
  }
}

/**
 * A sequence named to add-sequence or remove-sequence does not exist where it must (the
 * provider, the subscriber) or is not in the subscription: the message names it and says
 * what to do.
 */
export class SequenceNotFoundError extends ReplicationSetupError {
  override name = 'SequenceNotFoundError';
}

/**
 * The provider does not hold the tick the subscriber applied last, or holds another tick
 * under its id: its history is not the one the subscriber followed (the provider was
 * restored from a backup, or recovered to a point in time, older than what the subscriber
 * applied). Its new ticks reuse the ids the subscriber has seen, so taking their batches as
 * applied would skip the provider's new changes silently. The stream stops, applying nothing.
 */
export class ProviderHistoryError extends ReplicationStateError {
  override name = 'ProviderHistoryError';
  constructor(
    readonly subscription: string,
    /** The subscriber's last applied tick. */
    readonly appliedTick: { tickId: string; time: Date; eventSeq: string },
    /** The provider's tick of that id (null: it has none). */
    readonly providerTick: { tickId: string; time: Date; eventSeq: string } | null,
    /** A table's catch-up (after its copy) found it; undefined: the main stream. */
    readonly table?: string,
  ) {
    const seen = (t: { time: Date; eventSeq: string }) => `made ${t.time.toISOString()}, event counter ${t.eventSeq}`;
    const who = table === undefined ? `subscription "${subscription}"` : `the catch-up of ${table} (subscription "${subscription}")`;
    super(
      `${who} applied tick ${appliedTick.tickId} (${seen(appliedTick)}), but its provider ` +
        (providerTick ? `has another tick ${providerTick.tickId} (${seen(providerTick)})` : `has no tick ${appliedTick.tickId}`) +
        `: the provider's history is not the one this subscriber followed (restored from a backup?); the ${table === undefined ? 'stream' : 'catch-up'} stops, applying nothing`,
      {
        hint:
          table === undefined
            ? "the subscriber holds changes the provider lost (those after the provider's backup): save what you need of them, then copy " +
              "its tables again (`pgferry replicate resync` each): the stream follows the provider's history once no table depends on the " +
              'old one (a branch: drop it and create it again)'
            : `copy it again: \`pgferry replicate resync --subscriber ... --node ${subscription} ${table}\``,
      },
    );
  }
}

/** A wait (wait-provider, wait-root, wait-sync) reached its timeout: the message says what is missing. */
export class WaitTimeoutError extends PgferryError {
  override name = 'WaitTimeoutError';
}

/**
 * A statement of a batch's first attempt failed or missed rows (see BatchScope.firstAttempt):
 * the batch is applied again, carefully. Never seen outside the apply, unless a handler
 * swallows it, which it must not.
 */
export class RedoBatch extends Error {
  override name = 'RedoBatch';
  constructor(readonly table: string, options?: { cause?: unknown }) {
    super(`apply of ${table} to be redone with a savepoint per statement`, options);
  }
}
