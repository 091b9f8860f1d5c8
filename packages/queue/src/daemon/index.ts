export { Daemon } from './daemon.js';
export { loadDaemonConfig, parseDaemonConfig, daemonConfigSchema, ConfigError } from './config.js';
export type { DaemonConfig, DatabaseConfig, DaemonConfigInput, DaemonOverrides } from './config.js';
export { createLogger } from './log.js';
export type { Logger } from './log.js';
