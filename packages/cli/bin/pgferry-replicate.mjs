#!/usr/bin/env node
// pgferry-replicate: an alias of `pgferry replicate` (see @pgferry/queue/launch for how it finds its code).
import { launch } from '@pgferry/queue/launch';

await launch(new URL('../dist/replicate-alias.js', import.meta.url), new URL('../src/replicate-alias.ts', import.meta.url));
