/**
 * DDL in stream order (Londiste's EXECUTE): a SQL file runs on the provider and goes into
 * the replication queue as an event in the same transaction, so every subscriber runs it
 * at exactly that point of the stream, between the changes made before and after it.
 *
 * On the provider, capture follows the DDL in that transaction (capture_ddl_begin/end):
 * the captured tables' columns and names are taken as they are now, their triggers
 * regenerated; the event carries each table's columns before and after, and a subscriber
 * updates the columns it replicates at the same point. A file is recorded by name and
 * hash: the same file again is recognised and skipped, another file under a used name is
 * refused.
 */
import { createHash } from 'node:crypto';
import createDebug from 'debug';
import type pg from 'pg';
import { Producer, inTransaction, withClient, type Queryable } from '@pgferry/queue';
import { ReplicationSetupError } from '../errors.js';
import { sql } from '../sql.js';
import { rootNode } from './nodes.js';

const debug = createDebug('pgferry:replicator:execute');

/** The ev_type of an execute event. */
export const EXECUTE_EVENT = 'EXECUTE';

/** How a captured table changed with the DDL (carried by the event, in ev_extra3). */
export interface CaptureChange {
  /** The table's name now, and before the DDL. */
  table: string;
  previous: string;
  columnsBefore: string[];
  columnsAfter: string[];
}

export interface ExecuteResult {
  name: string;
  /** 'skipped': this file (same name, same text) was executed before. */
  status: 'executed' | 'skipped';
  hash: string;
  /** The queue's captured tables after the DDL. */
  tables: CaptureChange[];
}

export const sqlHash = (text: string) => createHash('sha256').update(text).digest('hex');

/** Run SQL file `name` (its text `sql`) on the root and put it into the stream. */
export async function executeSql(provider: pg.Pool, options: { name: string; sql: string }): Promise<ExecuteResult> {
  const { name, sql: text } = options;
  if (!name.trim()) throw new ReplicationSetupError('an execute needs a name (the file name)');
  const root = await rootNode(provider);
  const hash = sqlHash(text);
  return withClient(provider, (c) =>
    inTransaction(c, async (): Promise<ExecuteResult> => {
      if (await executedBefore(c, name, hash)) return { name, status: 'skipped', hash, tables: [] };
      await c.query('SELECT pgferry.capture_ddl_begin($1)', [root.queue]);
      await c.query(text).catch((err: unknown) => {
        throw new ReplicationSetupError(`${name} failed on the provider: ${(err as Error).message}`, { cause: err });
      });
      const { rows } = await c.query<{ table_name: string; previous_name: string; columns_before: string[]; columns_after: string[] }>(
        'SELECT * FROM pgferry.capture_ddl_end($1)',
        [root.queue],
      );
      const tables = rows.map((r) => ({ table: r.table_name, previous: r.previous_name, columnsBefore: r.columns_before, columnsAfter: r.columns_after }));
      await new Producer(c, { queue: root.queue, prepare: false }).insert(EXECUTE_EVENT, text, {
        client: c,
        extra: [undefined, name, hash, JSON.stringify(tables)],
      });
      await c.query(sql('record_executed'), [name, hash]);
      debug('executed %s (%s) on the provider, into queue %s', name, hash.slice(0, 12), root.queue);
      return { name, status: 'executed', hash, tables };
    }),
  );
}

/**
 * Whether this database ran file `name` with this text before (its row locked until the
 * end of the transaction); another text under the name is refused.
 */
export async function executedBefore(db: Queryable, name: string, hash: string): Promise<boolean> {
  const { rows } = await db.query<{ ex_hash: string }>(sql('executed'), [name]);
  if (!rows[0]) return false;
  if (rows[0].ex_hash === hash) return true;
  throw new ReplicationSetupError(`another file named "${name}" was executed before (hash ${rows[0].ex_hash.slice(0, 12)})`, {
    hint: 'give the new file a name of its own',
  });
}
