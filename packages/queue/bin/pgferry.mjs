#!/usr/bin/env node
// The pgferry CLI (see ./launch.mjs for how it finds its code).
import { launch } from './launch.mjs';

await launch(new URL('../dist/cli/main.js', import.meta.url), new URL('../src/cli/main.ts', import.meta.url));
