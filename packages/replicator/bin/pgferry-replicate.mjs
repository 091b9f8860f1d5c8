#!/usr/bin/env node
// The pgferry-replicate CLI (see @pgferry/queue/launch for how it finds its code).
import { launch } from '@pgferry/queue/launch';

await launch(new URL('../dist/cli/main.js', import.meta.url), new URL('../src/cli/main.ts', import.meta.url));
