/** The case registry, in the order `pnpm bench` runs them. */
import type { BenchCase } from '../lib/runner.js';
import { produceSingle } from './produce-single.js';
import { produceBulk } from './produce-bulk.js';
import { consume } from './consume.js';
import { latency } from './latency.js';
import { rotation } from './rotation.js';
import { memory } from './memory.js';
import { captureBulk, captureSingle } from './capture.js';
import { apply } from './apply.js';
import { metadata } from './metadata.js';
import { compare } from './compare.js';
import { switchoverCase } from './switchover.js';
import { applyMerge } from './apply-merge.js';
import { copy } from './copy.js';
import { scaleDaemon } from './scale-daemon.js';
import { replay } from './replay.js';
import { scaleTables } from './scale-tables.js';
import { e2eInsert, e2eUpdate } from './e2e.js';
import { tpcb } from './tpcb.js';
import { bigTransaction } from './big-transaction.js';

export const CASES: BenchCase[] = [
  produceSingle,
  produceBulk,
  captureSingle,
  captureBulk,
  consume,
  apply,
  latency,
  rotation,
  memory,
  metadata,
  compare,
  switchoverCase,
  applyMerge,
  copy,
  scaleDaemon,
  replay,
  scaleTables,
  bigTransaction,
  e2eInsert,
  e2eUpdate,
  tpcb,
];
