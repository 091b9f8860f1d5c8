/**
 * Subscriber tables' columns as the apply statements need them (sql/queries/dest_shapes.sql),
 * read in the batch's transaction: a table altered while the worker runs gets statements
 * for its new shape. The tables of a flush are read in one query (primeShapes), not one
 * each: every query costs a round trip and its writes on both sides.
 */
import type { Queryable } from '@pgferry/queue';
import { prepared } from '../sql.js';
import type { BatchScope } from './types.js';

export interface DestColumn {
  name: string;
  /** Schema-qualified type name. */
  type: string;
  /** json, jsonb, or a domain over them. */
  json: boolean;
  /** Schema of the type's "=" operator. */
  eq_schema: string;
}

/** The columns of each of `dests` (a table that does not exist: no entry). */
export async function readShapes(client: Queryable, dests: string[]): Promise<Map<string, DestColumn[]>> {
  const { rows } = await client.query<DestColumn & { dest: string }>({ ...prepared('dest_shapes'), values: [dests] });
  const shapes = new Map<string, DestColumn[]>();
  for (const { dest, ...c } of rows) {
    const list = shapes.get(dest) ?? [];
    list.push(c);
    shapes.set(dest, list);
  }
  return shapes;
}

const key = (dest: string) => `shape:${dest}`;

/** The columns of `dest` for the rest of the batch (empty: no such table). */
export function shapeFor(client: Queryable, scope: BatchScope, dest: string): Promise<DestColumn[]> {
  return scope.memo(key(dest), async () => (await readShapes(client, [dest])).get(dest) ?? []);
}

/** Read the shapes of `dests` the batch has not read yet, in one query (see shapeFor). */
export function primeShapes(client: Queryable, scope: BatchScope, dests: string[]): void {
  let read: Promise<Map<string, DestColumn[]>> | undefined;
  for (const dest of new Set(dests)) {
    void scope.memo(key(dest), () => {
      read ??= readShapes(client, dests);
      const shape = read.then((s) => s.get(dest) ?? []);
      shape.catch(() => undefined); // a table whose handler never asks: its error is not unhandled
      return shape;
    });
  }
}
