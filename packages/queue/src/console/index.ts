/**
 * The web console of pgferry's daemons: queues, consumers and dead letters here; the
 * replicator plugs its replication section in through ConsoleView.
 */
export { serveConsole } from './server.js';
export type { ConsoleServer, ConsoleServerOptions } from './server.js';
export { ConsoleEndpoint } from './endpoint.js';
export { ActionLog } from './action-log.js';
export type { ActionEntry } from './action-log.js';
export { ConsoleRequestError } from './view.js';
export type { ConsoleAction, ConsoleView } from './view.js';
export { queueConsoleView } from './queue-view.js';
export { sourceNamed } from './sources.js';
export type { DatabaseQueues } from './queue-view.js';
export { bearerToken, tokenMatches } from './auth.js';
export { CONSOLE_TOKEN_ENV, DEFAULT_CONSOLE_HOST, consoleConfigSchema, resolveConsoleConfig, withConsoleOverrides } from './config.js';
export type { ConsoleConfig, ConsoleOverrides } from './config.js';
