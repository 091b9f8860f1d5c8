/** The case registry, in the order `pnpm bench` runs them. */
import type { BenchCase } from '../lib/runner.js';
import { produceSingle } from './produce-single.js';

export const CASES: BenchCase[] = [produceSingle];
