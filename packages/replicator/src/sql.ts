/** The replicator's SQL statements, kept in ../sql/*.sql and read once. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SQL_DIR = fileURLToPath(new URL('../sql/', import.meta.url));
const cache = new Map<string, string>();

export function sql(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${SQL_DIR}${name}.sql`, 'utf8');
    cache.set(name, text);
  }
  return text;
}
