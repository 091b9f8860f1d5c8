/**
 * Coalesce a batch's changes per table and key: whatever happened to a key in between, only
 * its state before (must the row exist?) and after (the last image, or gone) matter. A
 * TRUNCATE drops what came before it for that table.
 */
export type Op = 'I' | 'U' | 'D';

export interface KeyChange {
  /** The key as captured (a JSON array). */
  key: string;
  /** The row exists on the subscriber before this batch's changes (first op U or D). */
  existedBefore: boolean;
  /** The row's image after the changes, or null when it ends deleted. */
  image: string | null;
  /** The image of the last delete (used to find the row when image is null). */
  lastImage: string;
  /** The last event that touched the key. */
  eventId: string;
}

export interface TableChanges {
  truncate: boolean;
  keys: Map<string, KeyChange>;
}

export class Coalescer {
  readonly tables = new Map<string, TableChanges>();
  /** Distinct keys held (the caller flushes past a limit to bound memory). */
  size = 0;
  events = 0;

  private table(name: string): TableChanges {
    let t = this.tables.get(name);
    if (!t) {
      t = { truncate: false, keys: new Map() };
      this.tables.set(name, t);
    }
    return t;
  }

  truncate(table: string): void {
    const t = this.table(table);
    this.size -= t.keys.size;
    t.keys.clear();
    t.truncate = true;
    this.events++;
  }

  change(table: string, op: Op, key: string, image: string, eventId: string): void {
    this.events++;
    const t = this.table(table);
    const prev = t.keys.get(key);
    if (!prev) {
      this.size++;
      t.keys.set(key, { key, existedBefore: op !== 'I', image: op === 'D' ? null : image, lastImage: image, eventId });
      return;
    }
    prev.image = op === 'D' ? null : image;
    prev.lastImage = image;
    prev.eventId = eventId;
  }
}

/**
 * A table's changes by what they do to the subscriber's rows: delete a row that exists,
 * update one, insert one (a key inserted and deleted within the batch does nothing).
 */
export function splitChanges(changes: TableChanges): { deletes: KeyChange[]; updates: KeyChange[]; inserts: KeyChange[] } {
  const deletes: KeyChange[] = [];
  const updates: KeyChange[] = [];
  const inserts: KeyChange[] = [];
  for (const c of changes.keys.values()) {
    if (c.existedBefore) (c.image === null ? deletes : updates).push(c);
    else if (c.image !== null) inserts.push(c);
  }
  return { deletes, updates, inserts };
}
