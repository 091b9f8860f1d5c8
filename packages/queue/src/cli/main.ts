#!/usr/bin/env node
/** `pgferry` entry point (see program.ts; bin/pgferry.mjs launches it). */
import { runCli } from './program.js';

const code = await runCli(process.argv);
// Commands close their pools; the daemon returns only once stopped. Exit now so a stray
// timer cannot keep a finished command alive.
process.exit(code);
