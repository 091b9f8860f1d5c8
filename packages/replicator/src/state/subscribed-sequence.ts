/** A sequence a subscription replicates, as stored in pgferry.subscriber_sequence. */
export interface SubscribedSequence {
  subscription: string;
  /** The provider's sequence (canonical schema.name). */
  source: string;
  /** The subscriber's sequence (canonical schema.name). */
  dest: string;
  /** The provider's last value as last set forward here (null: not used on the provider yet). */
  lastValue: string | null;
  /** When lastValue last changed. */
  updated: Date | null;
}

export interface SubscriberSequenceRow {
  ss_subscription: string;
  ss_source: string;
  ss_dest: string;
  ss_last_value: string | null;
  ss_updated: Date | null;
}

export const toSubscribedSequence = (r: SubscriberSequenceRow): SubscribedSequence => ({
  subscription: r.ss_subscription,
  source: r.ss_source,
  dest: r.ss_dest,
  lastValue: r.ss_last_value,
  updated: r.ss_updated,
});
