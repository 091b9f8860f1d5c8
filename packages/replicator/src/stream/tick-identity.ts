/**
 * Is the provider's tick of a recorded position the tick the stream applied? A provider
 * restored from a backup older than a stream's position makes new ticks under the ids the
 * stream has seen: only a tick's time and event counter tell them apart, and a stream that
 * took their batches as applied would skip the provider's new changes without a word.
 */
import { getTick, type ExternalTick, type Queryable } from '@pgferry/queue';
import { ProviderHistoryError } from '../errors.js';

/** A stream's recorded position: the tick's identity is null when an older version recorded it. */
export interface RecordedTick {
  tickId: string;
  time: Date | null;
  eventSeq: string | null;
}

/**
 * The provider's tick of the recorded id when it is another one (null: the provider has no
 * such tick), or 'same'. `known`: a tick of the provider already read (a batch's end).
 * A position recorded without its identity is not checked ('same').
 */
export async function providerTickIfOther(provider: Queryable, queue: string, recorded: RecordedTick, known?: ExternalTick): Promise<'same' | ExternalTick | null> {
  if (recorded.time === null || recorded.eventSeq === null) return 'same';
  const tick = known?.tickId === recorded.tickId ? known : await getTick(provider, queue, recorded.tickId);
  return tick && tick.time.getTime() === recorded.time.getTime() && tick.eventSeq === recorded.eventSeq ? 'same' : tick;
}

/**
 * The error that stops a stream (or, with `table`, a table's catch-up) of `subscription`
 * whose recorded position the provider holds as another tick or not at all; null when it
 * holds the same one, or the position was recorded without its identity.
 */
export async function historyError(
  provider: Queryable,
  queue: string,
  subscription: string,
  recorded: RecordedTick,
  known?: ExternalTick,
  table?: string,
): Promise<ProviderHistoryError | null> {
  const { tickId, time, eventSeq } = recorded;
  if (time === null || eventSeq === null) return null;
  const other = await providerTickIfOther(provider, queue, recorded, known);
  return other === 'same' ? null : new ProviderHistoryError(subscription, { tickId, time, eventSeq }, other, table);
}
