/**
 * @pgferry/sql — the SQL layer (schema `pgferry`) and its installer.
 */
export { install, installComponent, uninstall, installedVersion, knownMigrations } from './install.js';
export type { Queryable, InstallResult } from './install.js';
export { bundleSql, componentSql, readMigrations, SQL_DIR } from './bundle.js';
export { installPgq, uninstallPgq, pgqInstalled, pgqBundleSql } from './pgq.js';
export type { Migration } from './bundle.js';
export * from './errors.js';
export { CAPTURE_VALUE_SETTINGS, VALUE_SETTINGS, settingsOptions } from './value-settings.js';
