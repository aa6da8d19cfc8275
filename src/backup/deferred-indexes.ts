import { sql } from 'kysely';
import type { Db } from '../store/database.js';

interface Definition {
  table: string;
  name: string;
  definition: string;
}

/**
 * Runs `load` with the indexes of `tables` out of the way and builds them again after, as pg_restore
 * does (data first, then indexes and constraints): the foreign keys, plain indexes, primary keys, unique
 * and exclusion constraints of those tables. Loading then writes only the table, each index is built in
 * one sorted pass, and each foreign key is checked with one join, instead of an index insert and a
 * look-up per row; a row that breaks a key still fails, at the rebuild. A key that a table outside
 * `tables` references stays: dropping it would mean dropping and checking again that table's foreign
 * keys too, which costs more than the index saves on all but the largest tables.
 *
 * Call it inside the transaction that loads the rows: DDL is transactional, so a failure anywhere puts
 * every index and constraint back, and other sessions wait rather than see the tables without them.
 */
export async function withIndexesDeferred<T>(
  trx: Db,
  tables: readonly string[],
  load: () => Promise<T>,
): Promise<T> {
  if (tables.length === 0) return load();
  const names = sql.join(tables.map((table) => sql`${table}::regclass`));
  const { rows: foreignKeys } = await sql<Definition>`
    select conrelid::regclass::text as table, conname as name, pg_get_constraintdef(oid) as definition
    from pg_constraint
    where contype = 'f' and conrelid in (${names})
    order by conrelid, conname`.execute(trx);
  const { rows: keys } = await sql<Definition>`
    select k.conrelid::regclass::text as table, k.conname as name, pg_get_constraintdef(k.oid) as definition
    from pg_constraint k
    where k.contype in ('p', 'u', 'x') and k.conrelid in (${names})
      and not exists (select from pg_constraint f
        where f.contype = 'f' and f.conindid = k.conindid and f.conrelid not in (${names}))
    order by k.conrelid, k.conname`.execute(trx);
  const { rows: indexes } = await sql<Definition>`
    select i.indrelid::regclass::text as table, c.relname as name, pg_get_indexdef(i.indexrelid) as definition
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid in (${names})
      and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
    order by i.indrelid, c.relname`.execute(trx);

  // `table` comes from regclass output, quoted already where it needs to be.
  const alter = (table: string) => sql`alter table ${sql.raw(table)}`;
  for (const key of [...foreignKeys, ...keys]) {
    await sql`${alter(key.table)} drop constraint ${sql.ref(key.name)}`.execute(trx);
  }
  for (const index of indexes) await sql`drop index ${sql.ref(index.name)}`.execute(trx);
  const result = await load();
  for (const key of keys) {
    await sql`${alter(key.table)} add constraint ${sql.ref(key.name)} ${sql.raw(key.definition)}`.execute(
      trx,
    );
  }
  for (const index of indexes) await sql.raw(index.definition).execute(trx);
  for (const key of foreignKeys) {
    await sql`${alter(key.table)} add constraint ${sql.ref(key.name)} ${sql.raw(key.definition)}`.execute(
      trx,
    );
  }
  return result;
}
