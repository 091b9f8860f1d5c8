/**
 * A cron-style batch worker (what used to be a PHP cron script over PGQ): take everything
 * ticked so far, send one e-mail row per signup in the batch's own transaction, exit.
 *
 *   PGFERRY_DB=postgres://... tsx --conditions=source examples/batch-worker/worker.ts
 *
 * Without PGFERRY_DB it starts an embedded PostgreSQL and makes up some signups first.
 * Exactly once: the outbox rows and finish_batch commit together, so a crash (or a second
 * copy of this cron job) never sends twice, and a failed run leaves the batch to the next.
 */
import pg from 'pg';
import { z } from 'zod';
import { PgServer } from '@pgferry/test/pg-server';
import { install } from '@pgferry/sql';
import { Consumer, Producer, createQueue, forceTick, registerConsumer } from '@pgferry/queue';

const schemas = { signup: z.object({ email: z.string().email(), name: z.string() }) };

async function drain(pool: pg.Pool): Promise<number> {
  await forceTick(pool, 'signups'); // include everything committed until now
  const consumer = new Consumer(pool, { queue: 'signups', name: 'welcome-mailer', schemas, listen: false });
  await consumer.run(
    async (batch) => {
      for await (const ev of batch.events()) {
        await batch.client.query('INSERT INTO outbox (email, body) VALUES ($1, $2)', [
          ev.payload.email,
          `Welcome, ${ev.payload.name}!`,
        ]);
      }
    },
    { untilIdle: true },
  );
  await consumer.close();
  return consumer.stats.events;
}

async function main(): Promise<void> {
  let server: PgServer | undefined;
  let url = process.env.PGFERRY_DB;
  if (!url) {
    server = await PgServer.start({ name: 'pgferry-batch-worker' });
    url = server.url();
  }
  // An idle pooled connection the server drops (a restart, the server stopping at the end)
  // is reported on the pool: without a listener node-postgres' 'error' event ends the process.
  let ending = false;
  const pool = new pg.Pool({ connectionString: url }).on('error', (err) => ending || console.error(`idle connection lost: ${err.message}`));
  try {
    await install(pool);
    await createQueue(pool, 'signups');
    await registerConsumer(pool, 'signups', 'welcome-mailer');
    await pool.query('CREATE TABLE IF NOT EXISTS outbox (id bigserial PRIMARY KEY, email text NOT NULL, body text NOT NULL)');
    if (server) {
      const producer = new Producer(pool, { queue: 'signups', schemas });
      for (let i = 0; i < 25; i++) await producer.insert('signup', { email: `user${i}@example.com`, name: `User ${i}` });
    }
    const processed = await drain(pool);
    console.log(`processed ${processed} signups; outbox has ${(await pool.query('SELECT count(*) FROM outbox')).rows[0].count} mails`);
  } finally {
    ending = true;
    await pool.end();
    await server?.destroy();
  }
}

await main();
