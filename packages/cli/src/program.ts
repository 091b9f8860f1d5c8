/**
 * The `pgferry` program: the queue commands (install, queue, consumer, events, dead-letter,
 * tick, maint, daemon) and `replicate` (the replicator's), one set of conventions
 * (@pgferry/queue/cli). This package only composes them: the queue package cannot import
 * the replicator, which depends on it.
 */
import { runCli as runQueueCli } from '@pgferry/queue/cli';
import { REPLICATE_EXAMPLES, REPLICATOR_COMPONENT, replicateCommand } from '@pgferry/replicator/cli';

const DESCRIPTION =
  'pgferry: PGQ-style queues and trigger replication on PostgreSQL (install, queues, consumers, events, dead letters, ticker daemon, replication)';

/** Parse `argv` (process.argv's form) and run it; returns the exit code. */
export function runCli(argv: string[]): Promise<number> {
  return runQueueCli(argv, {
    commands: [replicateCommand()],
    description: DESCRIPTION,
    examples: REPLICATE_EXAMPLES,
    components: [REPLICATOR_COMPONENT],
  });
}
