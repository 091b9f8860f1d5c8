// Records the differential script's results on a database with the real PGQ (and pgq_coop)
// installed: `tsx packages/sql/test/pgq-record.ts postgres://host/db > fixtures/pgq-differential.real-pgq.json`.
import { runScript } from './pgq-script.js';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: pgq-record.ts postgres://host/db (a database with PGQ installed)\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(await runScript(url), null, 1)}\n`);
