#!/usr/bin/env node
/** `pgferry-replicate ...`: the same as `pgferry replicate ...` (kept for existing scripts). */
import { runCli } from './program.js';

const [node = process.execPath, script = 'pgferry', ...args] = process.argv;
process.exit(await runCli([node, script, 'replicate', ...args]));
