import { createHash, type Hash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql } from 'kysely';
import { copyConnection } from '../store/copy.js';
import type { Db } from '../store/database.js';
import { copyTextFromLines } from './copy-text.js';

/**
 * Hearth's tables as backups and moves see them: every table of the current schema but the migrator's
 * own bookkeeping (a restore or move migrates the target, which writes that itself).
 *
 * A row travels as PostgreSQL's `to_json(row)::text`, one line per row in primary-key order: columns in
 * table order, bytea as `\x…` hex, timestamps in UTC, jsonb as itself. `jsonb_populate_recordset` turns
 * those lines back into rows of the same table, and the same text read from two databases (PGlite 18,
 * PostgreSQL 15) hashes the same, which is how a restore or a move proves it copied everything.
 * (`to_json` rather than `to_jsonb`: the same information, read about three times as fast.)
 */
const MIGRATOR_TABLES = ['kysely_migration', 'kysely_migration_lock'];

/** Rows per read and per insert: large enough for throughput, small enough to keep memory flat. */
export const ROWS_PER_BATCH = 2_000;

export interface TableInfo {
  name: string;
  primaryKey: string[];
  /** Tables this one references (foreign keys), which must be filled first. */
  parents: string[];
  /** In table order, as `to_json(row)` names them. */
  columns: string[];
}

/** The tables in an order where every table comes after the tables it references. */
export async function listTables(db: Db): Promise<TableInfo[]> {
  const { rows } = await sql<{
    name: string;
    primary_key: string[] | null;
    parents: string[] | null;
    columns: string[] | null;
  }>`
    select c.relname as name,
      (select array_agg(a.attname::text order by k.ord)
         from pg_index i
         cross join unnest(i.indkey) with ordinality as k(attnum, ord)
         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
        where i.indrelid = c.oid and i.indisprimary) as primary_key,
      (select array_agg(distinct p.relname::text)
         from pg_constraint f join pg_class p on p.oid = f.confrelid
        where f.conrelid = c.oid and f.contype = 'f' and f.confrelid <> c.oid) as parents,
      (select array_agg(a.attname::text order by a.attnum) from pg_attribute a
        where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns
    from pg_class c
    where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r'
    order by c.relname`.execute(db);
  const tables = rows
    .filter((row) => !MIGRATOR_TABLES.includes(row.name))
    .map((row) => ({
      name: row.name,
      primaryKey: row.primary_key ?? [],
      parents: row.parents ?? [],
      columns: row.columns ?? [],
    }));
  return dependencyOrder(tables);
}

function dependencyOrder(tables: TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((table) => [table.name, table]));
  const ordered: TableInfo[] = [];
  const placed = new Set<string>();
  const place = (table: TableInfo, path: string[]) => {
    if (placed.has(table.name)) return;
    if (path.includes(table.name)) throw new Error(`Foreign keys form a cycle: ${path.join(' → ')}`);
    for (const parent of table.parents) {
      const parentTable = byName.get(parent);
      if (parentTable) place(parentTable, [...path, table.name]);
    }
    placed.add(table.name);
    ordered.push(table);
  };
  for (const table of tables) place(table, []);
  return ordered;
}

/** Tables that reference any of `names`, directly or through others: emptying a parent empties them too. */
export function withDependents(tables: readonly TableInfo[], names: Iterable<string>): Set<string> {
  const result = new Set(names);
  let grew = true;
  while (grew) {
    grew = false;
    for (const table of tables) {
      if (!result.has(table.name) && table.parents.some((parent) => result.has(parent))) {
        result.add(table.name);
        grew = true;
      }
    }
  }
  return result;
}

/** Runs `work` in one transaction that sees a single snapshot of the database, with times in UTC. */
export function inSnapshot<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`set transaction read only`.execute(trx);
      await sql`set local timezone = 'UTC'`.execute(trx);
      return work(trx);
    });
}

let cursorNumber = 0;

/** The query whose one column is a table's lines, in the order a backup file holds them. */
function linesQuery(table: TableInfo) {
  // Without a primary key, the line itself (the first output column) gives the order.
  const orderBy =
    table.primaryKey.length > 0 ? sql.join(table.primaryKey.map((column) => sql.ref(column))) : sql.lit(1);
  return sql`select to_json(t)::text as line from ${sql.table(table.name)} as t order by ${orderBy}`;
}

/**
 * COPY in CSV with a delimiter and a quote character (0x01, 0x02) that `to_json` text never holds raw (it
 * escapes every control character), so each value travels unquoted and unescaped: a COPY stream is the
 * lines exactly as a backup file holds them, each ending in a newline.
 */
const RAW_LINES = "(format csv, delimiter E'\\x01', quote E'\\x02')";

/**
 * On PostgreSQL, a table's lines as one byte stream through COPY (inside the caller's transaction, so it
 * reads the same snapshot), several times faster than fetching rows; null on PGlite.
 */
export async function copyTableOut(trx: Db, table: TableInfo): Promise<Readable | null> {
  const copy = await copyConnection(trx);
  if (!copy) return null;
  return copy.to(`copy (${linesQuery(table).compile(trx).sql}) to stdout ${RAW_LINES}`);
}

/**
 * On PostgreSQL, fills `table` from the lines `source` streams (a reader and transforms, opened only
 * here): each line becomes a row in COPY's text format on the way (`copy-text.ts`), so the server reads
 * plain COPY input straight into the table, the fastest way it loads rows; false on PGlite, where
 * nothing is opened. Callers defer the table's indexes around it (`withIndexesDeferred`).
 */
export async function copyLinesIn(
  trx: Db,
  table: TableInfo,
  source: () => Array<Readable | Transform>,
): Promise<boolean> {
  const copy = await copyConnection(trx);
  if (!copy) return false;
  const columns = sql.join(table.columns.map((column) => sql.ref(column)));
  const statement = sql`copy ${sql.table(table.name)} (${columns}) from stdin`.compile(trx).sql;
  await pipeline([...source(), copyTextFromLines(table.columns), copy.from(statement)]);
  return true;
}

/**
 * A table's rows as lines, in batches, through a cursor (inside the caller's transaction, so a backup
 * or move reads every table from the same snapshot without holding a table in memory).
 */
export async function* readTable(trx: Db, table: TableInfo): AsyncGenerator<string[]> {
  const cursor = sql.ref(`hearth_rows_${++cursorNumber}`);
  await sql`declare ${cursor} no scroll cursor for ${linesQuery(table)}`.execute(trx);
  try {
    for (;;) {
      const { rows } = await sql<{
        line: string;
      }>`fetch forward ${sql.lit(ROWS_PER_BATCH)} from ${cursor}`.execute(trx);
      if (rows.length === 0) return;
      yield rows.map((row) => row.line);
    }
  } finally {
    await sql`close ${cursor}`.execute(trx);
  }
}

/** Inserts lines read by `readTable` into the same table of another database. */
export async function insertLines(trx: Db, table: string, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const target = sql.table(table);
  await sql`insert into ${target}
    select * from jsonb_populate_recordset(null::${target}, ${`[${lines.join(',')}]`}::jsonb)`.execute(trx);
}

const NEWLINE = 0x0a;

/** Counts and SHA-256 of a table's lines (each followed by a newline), as a backup file holds them. */
export class TableDigest {
  rows = 0;
  private readonly hash: Hash = createHash('sha256');

  addLines(lines: readonly string[]): void {
    for (const line of lines) this.hash.update(line).update('\n');
    this.rows += lines.length;
  }

  /** The same as `addLines` for lines already joined, each ending in a newline. */
  addText(text: string, rows: number): void {
    this.hash.update(text);
    this.rows += rows;
  }

  /** The same as `addLines` for the bytes of lines, each ending in a newline, cut anywhere. */
  addBytes(chunk: Buffer): void {
    this.hash.update(chunk);
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) this.rows += 1;
  }

  /** A pass-through stream that adds every chunk going by; `checkpoint` may throw to stop it. */
  passThrough(checkpoint?: () => void): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        try {
          checkpoint?.();
        } catch (error) {
          done(error as Error);
          return;
        }
        this.addBytes(chunk);
        done(null, chunk);
      },
    });
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/** Count and hash of a table as the database holds it now (inside the caller's transaction). */
export async function digestTable(trx: Db, table: TableInfo): Promise<{ rows: number; sha256: string }> {
  const digest = new TableDigest();
  const copied = await copyTableOut(trx, table);
  if (copied) {
    for await (const chunk of copied) digest.addBytes(chunk);
    return { rows: digest.rows, sha256: digest.hex() };
  }
  for await (const lines of readTable(trx, table)) digest.addLines(lines);
  return { rows: digest.rows, sha256: digest.hex() };
}

/** Tables that hold at least one row, asked in one query. */
export async function nonEmptyTables(db: Db, tables: readonly Pick<TableInfo, 'name'>[]): Promise<string[]> {
  if (tables.length === 0) return [];
  const probes = tables.map(
    (table) => sql`select ${table.name}::text as name where exists (select from ${sql.table(table.name)})`,
  );
  const { rows } = await sql<{ name: string }>`${sql.join(probes, sql` union all `)}`.execute(db);
  const found = new Set(rows.map((row) => row.name));
  return tables.map((table) => table.name).filter((name) => found.has(name));
}
