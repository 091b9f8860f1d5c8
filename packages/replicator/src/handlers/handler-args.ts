/** Checking a built-in handler's arguments (see HandlerDefinition.create). */
import pg from 'pg';
import { HandlerArgsError } from '../errors.js';
import type { HandlerArgs } from './types.js';

/** Refuse arguments the handler does not take (a misspelt one would be ignored silently). */
export function checkKnownArgs(handler: string, args: HandlerArgs, known: readonly string[]): void {
  for (const name of Object.keys(args)) {
    if (!known.includes(name)) {
      throw new HandlerArgsError(`handler "${handler}": unknown argument "${name}"`, {
        hint: `it takes ${known.map((k) => `"${k}"`).join(', ')}`,
      });
    }
  }
}

/** An argument that must be given (not empty). */
export function requiredArg(handler: string, args: HandlerArgs, name: string, expected: string): string {
  const value = args[name]?.trim();
  if (!value) throw new HandlerArgsError(`handler "${handler}": argument "${name}" is missing`, { hint: `give ${name}=${expected}` });
  return value;
}

/** A comma-separated list of names (blanks around names ignored, empty names refused). */
export function nameList(handler: string, arg: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) {
    throw new HandlerArgsError(`handler "${handler}": argument "${arg}" has an empty name in "${value}"`, {
      hint: 'separate names with single commas',
    });
  }
  return names;
}

/**
 * A table name as SQL writes it: `name` or `schema.name`, each part an identifier
 * (unquoted: folded to lower case) or a double-quoted one. Returns the parts as the
 * catalog spells them.
 */
export function parseTableName(handler: string, arg: string, text: string): { schema: string | null; name: string } {
  const parts: string[] = [];
  let i = 0;
  const bad = (why: string) =>
    new HandlerArgsError(`handler "${handler}": argument "${arg}": "${text}" is not a table name (${why})`, {
      hint: 'write name or schema.name; double-quote a name with capitals or other characters',
    });
  for (;;) {
    if (text[i] === '"') {
      let part = '';
      for (i++; ; i++) {
        if (i >= text.length) throw bad('unterminated quoted name');
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          i++;
        }
        part += text[i];
      }
      i++;
      if (part === '') throw bad('empty quoted name');
      parts.push(part);
    } else {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i));
      if (!m) throw bad(`unexpected character at position ${i + 1}`);
      parts.push(m[0].toLowerCase());
      i += m[0].length;
    }
    if (i === text.length) break;
    if (text[i] !== '.') throw bad(`unexpected character at position ${i + 1}`);
    i++;
  }
  if (parts.length > 2) throw bad('more than schema.name');
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts[0]! };
}

/** The schema of a canonical table name (format('%I.%I')), or null when it has none. */
export function schemaOf(qualified: string): string | null {
  try {
    return parseTableName('', '', qualified).schema;
  } catch {
    return null;
  }
}

/** A table name quoted, its schema `schema` when the name gives none. */
export function quoteTable(t: { schema: string | null; name: string }, schema: string | null): string {
  const s = t.schema ?? schema;
  return s === null ? pg.escapeIdentifier(t.name) : `${pg.escapeIdentifier(s)}.${pg.escapeIdentifier(t.name)}`;
}
