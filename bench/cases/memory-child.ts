/**
 * Child process of the memory case: consumes one batch with Consumer.run (or, with mode
 * "idle", only loads the same modules and connects) and prints its peak RSS as JSON.
 * argv: <mode: consume|idle> <database url> <queue> <consumer> <expected events>
 */
import pg from 'pg';
import { Consumer } from '@pgferry/queue';

async function main(): Promise<void> {
  const [mode, url, queue, name, expectedText] = process.argv.slice(2);
  const expected = Number(expectedText);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  let events = 0;
  let batches = 0;
  const t0 = performance.now();
  if (mode === 'consume') {
    const consumer = new Consumer(pool, { queue: queue!, name: name!, register: false });
    const stop = new AbortController();
    await consumer.run(
      async (batch) => {
        batches++;
        for await (const ev of batch.events()) {
          if (ev.payload !== undefined) events++;
        }
        if (events >= expected) stop.abort();
      },
      { signal: stop.signal },
    );
    await consumer.close();
  } else {
    await pool.query('SELECT 1');
  }
  await pool.end();
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ mode, events, batches, ms, maxRssKB: process.resourceUsage().maxRSS })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
