/**
 * A branch makes no ticks of its own: a tick asked for on its queue (pgferry.request_tick,
 * as a table's catch-up on a node below does when it needs a tick newer than its copy) is
 * passed up to the branch's provider, whose next tick then comes down through the branch's
 * main stream. Without it the request would wait for the root's ticker_idle_period.
 */
import { requestTick } from '@pgferry/queue';
import { sql } from '../sql.js';
import type { StreamEnv } from './stream-env.js';

/**
 * Pass the branch queue's tick request up when it is not the one passed last (`passed`, the
 * request's time as the branch recorded it); returns the request passed now or before.
 */
export async function forwardTickRequest(env: StreamEnv, queue: string, passed: string | null): Promise<string | null> {
  const at = (await env.subscriber.query<{ at: string | null }>(sql('tick_request'), [queue])).rows[0]?.at ?? null;
  if (at === null || at === passed) return passed;
  await requestTick(env.provider, queue);
  env.log('info', `passed a tick request on queue ${queue} up to ${env.providerNode ?? 'the provider'}`);
  return at;
}
