#!/usr/bin/env node
/** `pgferry` entry point (bin/pgferry.mjs launches it). */
import { runCli } from './program.js';

const code = await runCli(process.argv);
// Commands close their pools; the daemons return only once stopped. Exit now so a stray
// timer cannot keep a finished command alive.
process.exit(code);
