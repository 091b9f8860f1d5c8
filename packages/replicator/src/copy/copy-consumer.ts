/** The catch-up consumer a copy registers on the provider before its (first) snapshot. */
import { getConsumerInfo, getTick, registerConsumerAt, unregisterConsumer, type ExternalTick } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
import { providerTickIfOther, type RecordedTick } from '../stream/tick-identity.js';
import type { CopyTableOptions } from './copy-table.js';

/** The catch-up consumer, (again) at the main consumer's position: returns that tick (its id, time and event counter). */
export async function registerCopyConsumer(o: Pick<CopyTableOptions, 'provider' | 'queue' | 'table' | 'copyConsumer'>): Promise<ExternalTick> {
  const { table } = o;
  const [main] = await getConsumerInfo(o.provider, o.queue, table.subscription);
  if (!main?.lastTick) {
    throw new ReplicationStateError(`subscription "${table.subscription}" is not registered on queue "${o.queue}"`, {
      hint: 'its consumer was unregistered on the provider: drop the leaf and create it again',
    });
  }
  await unregisterConsumer(o.provider, o.queue, o.copyConsumer, { ifExists: true });
  await registerConsumerAt(o.provider, o.queue, o.copyConsumer, main.lastTick);
  const tick = await getTick(o.provider, o.queue, main.lastTick);
  if (!tick) throw new ReplicationStateError(`queue "${o.queue}" has no tick ${main.lastTick}, where consumer "${table.subscription}" is`);
  return tick;
}

/**
 * The catch-up consumer is registered still at the table's recorded tick, and that tick is the
 * one recorded (a provider restored from a backup may hold another under its id): where a
 * resumed copy needs it.
 */
export async function copyConsumerAt(o: Pick<CopyTableOptions, 'provider' | 'queue'>, consumer: string, tick: RecordedTick): Promise<boolean> {
  const registered = (await getConsumerInfo(o.provider, o.queue, consumer)).some((c) => c.consumerName === consumer && c.lastTick === tick.tickId);
  return registered && (await providerTickIfOther(o.provider, o.queue, tick)) === 'same';
}
