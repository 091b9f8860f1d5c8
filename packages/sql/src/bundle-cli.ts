// Prints the install script: `node dist/bundle-cli.js > pgferry.sql`; with `--pgq`, the
// script of the PGQ compatibility schemas, run after it (`> pgferry-pgq.sql`).
import { bundleSql } from './bundle.js';
import { pgqBundleSql } from './pgq.js';

process.stdout.write(process.argv.includes('--pgq') ? pgqBundleSql() : bundleSql());
