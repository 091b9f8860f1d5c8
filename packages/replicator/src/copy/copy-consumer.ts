/** The catch-up consumer a copy registers on the provider before its (first) snapshot. */
import { getConsumerInfo, registerConsumerAt, unregisterConsumer } from '@pgferry/queue';
import { ReplicationStateError } from '../errors.js';
import type { CopyTableOptions } from './copy-table.js';

/** The catch-up consumer, (again) at the main consumer's position: returns that tick. */
export async function registerCopyConsumer(o: Pick<CopyTableOptions, 'provider' | 'queue' | 'table' | 'copyConsumer'>): Promise<string> {
  const { table } = o;
  const [main] = await getConsumerInfo(o.provider, o.queue, table.subscription);
  if (!main?.lastTick) {
    throw new ReplicationStateError(`subscription "${table.subscription}" is not registered on queue "${o.queue}"`, {
      hint: 'its consumer was unregistered on the provider: drop the leaf and create it again',
    });
  }
  await unregisterConsumer(o.provider, o.queue, o.copyConsumer, { ifExists: true });
  await registerConsumerAt(o.provider, o.queue, o.copyConsumer, main.lastTick);
  return main.lastTick;
}

/** The catch-up consumer is registered still at `tick` (where a resumed copy needs it). */
export async function copyConsumerExists(o: Pick<CopyTableOptions, 'provider' | 'queue'>, consumer: string, tick: string): Promise<boolean> {
  return (await getConsumerInfo(o.provider, o.queue, consumer)).some((c) => c.consumerName === consumer && c.lastTick === tick);
}
