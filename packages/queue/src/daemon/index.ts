export { Daemon } from './daemon.js';
export { loadDaemonConfig, parseDaemonConfig, daemonConfigSchema, metricsConfigSchema, ConfigError, configProblems, readConfigFile, withMetricsOverrides } from './config.js';
export { handleSignals, reloadFromFile, type DaemonSignals } from './signals.js';
export type { DaemonConfig, DatabaseConfig, DaemonConfigInput, DaemonOverrides } from './config.js';
export { createLogger } from './log.js';
export type { Logger } from './log.js';
