/**
 * Typed events: an optional zod schema per event type. Payloads are JSON in ev_data.
 */
import type { z } from 'zod';
import { PgferryError } from '@pgferry/sql';

/** Zod schemas by event type. */
export type EventSchemas = Record<string, z.ZodType>;

/** A payload failed its event type's schema (or the type is unknown to the schemas). */
export class EventValidationError extends PgferryError {
  override name = 'EventValidationError';
  constructor(
    message: string,
    readonly eventType: string,
    readonly issues: readonly { path: PropertyKey[]; message: string }[] = [],
  ) {
    super(message);
  }
}

function describeIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`).join('; ');
}

/** Validate a payload against its type's schema; returns the parsed value. */
export function validatePayload(schemas: EventSchemas | undefined, type: string, payload: unknown): unknown {
  if (!schemas) return payload;
  const schema = schemas[type];
  if (!schema) {
    throw new EventValidationError(
      `unknown event type "${type}": expected one of ${Object.keys(schemas).join(', ')}`,
      type,
    );
  }
  const result = schema.safeParse(payload);
  if (!result.success) {
    throw new EventValidationError(
      `invalid "${type}" event: ${describeIssues(result.error.issues)}`,
      type,
      result.error.issues,
    );
  }
  return result.data;
}

/** Encode a payload for ev_data. */
export function encodePayload(payload: unknown): string {
  const text = JSON.stringify(payload);
  if (text === undefined) throw new EventValidationError('payload is not JSON-serializable', '');
  return text;
}

/** Decode ev_data; throws EventValidationError for text that is not JSON. */
export function decodePayload(type: string, data: string | null): unknown {
  if (data === null) return null;
  try {
    return JSON.parse(data) as unknown;
  } catch (err) {
    throw new EventValidationError(`malformed "${type}" event: ev_data is not JSON (${(err as Error).message})`, type);
  }
}
