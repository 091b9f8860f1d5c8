#!/usr/bin/env node
// The pgferry CLI (see @pgferry/queue/launch for how it finds its code).
import { launch } from '@pgferry/queue/launch';

await launch(new URL('../dist/main.js', import.meta.url), new URL('../src/main.ts', import.meta.url));
