/**
 * The `pgferry` command line as a library: the command tree (buildProgram, runCli), and the
 * conventions other command trees follow (@pgferry/replicator's `replicate`): output as a
 * table or --json, one-line errors, exit codes, option parsers, examples in --help.
 * @pgferry/cli composes them into the `pgferry` binary.
 */
export { buildProgram, runCli } from './program.js';
export type { ProgramOptions } from './program.js';
export { Context, CliError, EXIT, TargetError, describeError, labelOf, resolveTargets } from './context.js';
export type { GlobalOptions, Output, Target } from './context.js';
export { action, collect, examples, io, parseInteger, parseNonNegative } from './options.js';
export { cell, formatBytes, formatDuration, formatTime, renderPairs, renderTable, truncate } from './format.js';
export type { Column } from './format.js';
export { cliVersion } from './install.js';
export type { ComponentInfo } from './install.js';
