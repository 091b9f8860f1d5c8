/**
 * Foreign keys between replicated tables on the subscriber (as Londiste handles them): a
 * copy empties and refills its table, which a foreign key to or from it would refuse (a
 * TRUNCATE of a referenced table; rows whose parent is not copied yet). So the copy takes
 * those keys off in its own transaction and remembers them (pgferry.repl_dropped_fkey); a
 * key is put back, validated, once the tables on both sides are applied by the main stream,
 * at a batch boundary (the main stream's lock held), where both are as the provider had them
 * at one tick. A copy that fails rolls its drops back with it.
 */
import pg from 'pg';
import createDebug from 'debug';
import { withTransaction } from '@pgferry/queue';
import { sql } from '../sql.js';
import type { SubscribedTable } from '../state/subscribed-table.js';

const debug = createDebug('pgferry:replicator:fkeys');

export interface ForeignKey {
  /** The referencing table, the constraint, the referenced table (qualified, quoted). */
  tbl: string;
  name: string;
  referenced: string;
  /** pg_get_constraintdef(). */
  definition: string;
}

/**
 * In the copy's transaction, before `dest` is emptied: take off the keys referencing it
 * (its rows go and come back), and those from it to a table of the subscription that is
 * not applied by the main stream yet (its rows may not be there). Returns what was taken.
 */
export async function dropForeignKeysForCopy(client: pg.ClientBase, subscription: string, dest: string, tables: SubscribedTable[]): Promise<ForeignKey[]> {
  const pending = new Set(tables.filter((t) => t.state !== 'ok').map((t) => t.dest));
  pending.add(dest);
  const dropped: ForeignKey[] = [];
  for (const fk of (await client.query<ForeignKey>(sql('fkeys_of_table'), [dest])).rows) {
    if (fk.referenced !== dest && !pending.has(fk.referenced)) continue;
    await client.query(sql('save_dropped_fkey'), [subscription, fk.tbl, fk.name, fk.referenced, fk.definition]);
    await client.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${pg.escapeIdentifier(fk.name)}`);
    dropped.push(fk);
  }
  if (dropped.length) debug('%s: took off %o for its copy', dest, dropped.map((f) => `${f.tbl}.${f.name}`));
  return dropped;
}

/**
 * Put back the keys whose two tables are applied by the main stream (or are not replicated
 * by the subscription), each in a transaction holding the main stream's lock. A key the data
 * does not satisfy stays off and is reported (`failed`); it is tried again later.
 */
export async function restoreForeignKeys(
  subscriber: pg.Pool,
  subscription: string,
): Promise<{ restored: ForeignKey[]; failed: { fk: ForeignKey; error: string }[] }> {
  const restored: ForeignKey[] = [];
  const failed: { fk: ForeignKey; error: string }[] = [];
  const { rows } = await subscriber.query<ForeignKey>(sql('dropped_fkeys'), [subscription]);
  for (const fk of rows) {
    try {
      const done = await withTransaction(subscriber, async (c) => {
        await c.query(sql('lock_applied_tick'), [subscription]);
        const states = new Map(
          (await c.query<{ st_dest: string; st_state: string }>(sql('subscriber_tables'), [subscription])).rows.map((t) => [t.st_dest, t.st_state]),
        );
        const ready = (t: string) => (states.get(t) ?? 'ok') === 'ok';
        if (!ready(fk.tbl) || !ready(fk.referenced)) return false;
        await c.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${pg.escapeIdentifier(fk.name)} ${fk.definition}`);
        await c.query(sql('forget_dropped_fkey'), [fk.tbl, fk.name]);
        return true;
      });
      if (done) restored.push(fk);
    } catch (err) {
      failed.push({ fk, error: (err as Error).message });
    }
  }
  return { restored, failed };
}
