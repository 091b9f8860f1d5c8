// Prints the install script: `node dist/bundle-cli.js > pgferry.sql`; with `--pgq`, the
// script of the PGQ compatibility schemas, run after it (`> pgferry-pgq.sql`), and with
// `--pgq --no-transaction` the same without BEGIN/COMMIT (to run inside a transaction).
import { bundleSql } from './bundle.js';
import { pgqBundleSql } from './pgq.js';

const args = process.argv.slice(2);
process.stdout.write(args.includes('--pgq') ? pgqBundleSql({ transaction: !args.includes('--no-transaction') }) : bundleSql());
