/**
 * What an operator may do to queues from the console: the CLI's own admin functions.
 * Pausing a queue pauses its ticker (`ticker_paused`): no new ticks, so no new batches for
 * its consumers; producers still write (their events wait for the resume). It is the
 * pause the SQL layer has; stopping producers is `disable_insert`, not offered here.
 */
import { z } from 'zod';
import { findTickAt, getConsumerInfo, purgeDeadLetters, registerConsumerAt, replayDeadLetters, setQueueConfig } from '../admin.js';
import type { MetricsSource } from '../metrics/queue-metrics.js';
import { sourceNamed } from './sources.js';
import { ConsoleRequestError, type ConsoleAction } from './view.js';

const name = z.string().min(1).max(200);
const queueArgs = z.strictObject({ database: name.optional(), queue: name });
const consumerArgs = queueArgs.extend({ consumer: name });

function parse<T extends z.ZodType>(schema: T, args: unknown): z.output<T> {
  const r = schema.safeParse(args);
  if (!r.success) throw new ConsoleRequestError(`bad arguments: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function queueActions(sources: () => MetricsSource[]): Record<string, ConsoleAction> {
  const db = (a: { database?: string }) => sourceNamed(sources, a.database ?? null).db;
  return {
    /** Send dead letters back to their consumer: the given ids, or all of the consumer's. */
    'replay-dead-letters': {
      async run(args) {
        const a = parse(consumerArgs.extend({ ids: z.array(z.string().regex(/^\d+$/)).min(1).optional() }), args);
        return { replayed: await replayDeadLetters(db(a), a.queue, a.consumer, a.ids) };
      },
    },
    /** Delete a consumer's dead letters. */
    'purge-dead-letters': {
      async run(args) {
        const a = parse(consumerArgs, args);
        return { purged: await purgeDeadLetters(db(a), a.queue, { consumer: a.consumer }) };
      },
    },
    /** Move a consumer to the latest tick at or before a time (`pgferry consumer rewind --time`). */
    'rewind-consumer': {
      async run(args) {
        const a = parse(consumerArgs.extend({ time: z.iso.datetime({ offset: true }) }), args);
        const pool = db(a);
        const info = (await getConsumerInfo(pool, a.queue, a.consumer)).find((c) => c.consumerName === a.consumer);
        if (!info) throw new ConsoleRequestError(`consumer "${a.consumer}" is not registered on queue "${a.queue}"`, 404);
        const tick = await findTickAt(pool, a.queue, new Date(a.time));
        if (!tick || !tick.available) throw new ConsoleRequestError(`queue "${a.queue}" no longer holds the events after ${a.time}`, 422);
        await registerConsumerAt(pool, a.queue, a.consumer, tick.tickId);
        return { fromTick: info.lastTick, toTick: tick.tickId, tickTime: tick.time };
      },
    },
    /** Stop ticking the queue (consumers get no new batches; producers go on). */
    'pause-queue': {
      async run(args) {
        const a = parse(queueArgs, args);
        await setQueueConfig(db(a), a.queue, { ticker_paused: true });
        return { paused: true };
      },
    },
    'resume-queue': {
      async run(args) {
        const a = parse(queueArgs, args);
        await setQueueConfig(db(a), a.queue, { ticker_paused: false });
        return { paused: false };
      },
    },
  };
}
