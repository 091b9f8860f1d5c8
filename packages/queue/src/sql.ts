/** SQL statements kept in .sql files (one per statement), read once. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A reader of the statements in `dir` (a folder URL): `name` is a file there, without `.sql`. */
export function sqlFiles(dir: URL): (name: string) => string {
  const path = fileURLToPath(dir);
  const cache = new Map<string, string>();
  return (name) => {
    let text = cache.get(name);
    if (text === undefined) {
      text = readFileSync(`${path}${name}.sql`, 'utf8');
      cache.set(name, text);
    }
    return text;
  };
}

/** The queue library's statements, in ../sql/*.sql. */
export const sql = sqlFiles(new URL('../sql/', import.meta.url));
