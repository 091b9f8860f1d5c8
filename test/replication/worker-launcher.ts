/**
 * A replication worker process for fault tests, started ahead of time: it loads the code,
 * prints "ready" and waits for a line on stdin before it connects anywhere, so that a test
 * can SIGKILL a worker and have the next one running at once (loading takes seconds on a
 * busy machine; a kill cycle should not). Options (ReplicationWorkerOptions as JSON) come
 * in PGFERRY_WORKER_OPTIONS. Signals as `pgferry replicate worker`: SIGTERM/SIGINT stop
 * gracefully (exit 0), a second one exits at once (exit 130).
 */
import { ReplicationWorker, type ReplicationWorkerOptions } from '@pgferry/replicator';

const options = JSON.parse(process.env.PGFERRY_WORKER_OPTIONS ?? '{}') as ReplicationWorkerOptions;
const log = (level: string, message: string) => process.stdout.write(`${new Date().toISOString()} ${level} ${message}\n`);

process.stdin.once('end', () => process.exit(1)); // the test is gone
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));

const worker = new ReplicationWorker({ ...options, subscriptions: options.subscriptions.map((s) => ({ ...s, log })) }).start();
log('info', 'worker started');
const signal = await new Promise<string>((resolve) => {
  process.once('SIGTERM', () => resolve('SIGTERM'));
  process.once('SIGINT', () => resolve('SIGINT'));
});
log('info', `${signal}: stopping`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    log('info', `${sig} again: exiting now`);
    process.exit(130);
  });
}
await worker.stop();
log('info', 'worker stopped');
process.exit(0);
