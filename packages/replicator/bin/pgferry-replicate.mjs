#!/usr/bin/env node
// The pgferry-replicate CLI (see @pgferry/queue/launch for how it finds its code).
import { launch } from '@pgferry/queue/launch';

await launch(new URL('../dist/bin.js', import.meta.url), new URL('../src/bin.ts', import.meta.url));
