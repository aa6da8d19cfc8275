import { sql } from 'kysely';
import type { ErasureJournal, JournalReading } from '../crypto/erasure-journal.js';
import type { Keyring } from '../crypto/keyring.js';
import { KeyVault } from '../crypto/vault.js';
import type { Db } from '../store/database.js';
import { appliedMigrations, knownMigrations, migrateTo } from '../store/migrate.js';
import { withIndexesDeferred } from './deferred-indexes.js';
import type { Manifest, ManifestTable } from './manifest.js';
import {
  copyLinesIn,
  digestTable,
  insertLines,
  listTables,
  nonEmptyTables,
  ROWS_PER_BATCH,
  TableDigest,
  type TableInfo,
} from './tables.js';
import { checkManifest, openTableFile, readTableFile, tableMismatch } from './verify.js';

/** The backup or the journal is not what it claims to be; nothing was written. */
export class BackupIntegrityError extends Error {
  override name = 'BackupIntegrityError';
}

/** The target cannot take this backup (not empty, another schema); nothing was written. */
export class RestoreRefusedError extends Error {
  override name = 'RestoreRefusedError';
}

export interface RestoreOptions {
  db: Db;
  keyring: Keyring;
  directory: string;
  /** Null only when the operator said the journal is gone (`--without-journal`). */
  journal: ErasureJournal | null;
  onTable?: (done: number, total: number) => void;
}

export interface RestoredBackup {
  manifest: Manifest;
  rows: number;
  /** Journalled subjects the backup still held alive: the caller erases them as deletion would. */
  toErase: string[];
  /** Of those journalled, how many were erased after the backup was taken (by the journal's clock). */
  erasedSinceBackup: number;
  journal: Pick<JournalReading, 'exists' | 'unverifiable'> & { entries: number };
}

/**
 * Tables a migration fills with their one row of settings (the global security epoch): a fresh database
 * has it, and the backup brings its own, which replaces it.
 */
const SEEDED_BY_MIGRATIONS = ['global_security'];

/**
 * Restores a backup into an empty database: checks the manifest's MAC and the keys first, migrates the
 * database to the backup's schema level, then in one transaction loads every table with its indexes and
 * keys deferred (built again after the load, as pg_restore does), checking each file's count and hash as
 * it is read, and compares each table's count and hash as the database now holds it with the manifest
 * before committing. Then lists the journalled subjects the backup brought back, for the caller to erase
 * again.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoredBackup> {
  const { db, directory } = options;
  // The MAC and the keys first; each file's count and hash are checked as it is read, before the commit.
  const check = await checkManifest(directory, options.keyring);
  if (!check.manifest || check.problems.length > 0) {
    throw new BackupIntegrityError(
      `The backup in ${directory} fails verification: ${check.problems.join('; ')}`,
    );
  }
  const manifest = check.manifest;
  // Read before the database is touched: a journal that was tampered with stops the restore.
  const journal = await readJournal(options.journal);
  await prepareEmptyDatabase(db, manifest);
  const tables = new Map((await listTables(db)).map((table) => [table.name, table]));
  const absent = manifest.tables.filter((table) => !tables.has(table.name)).map((table) => table.name);
  if (absent.length > 0) {
    throw new RestoreRefusedError(`The schema at ${manifest.schemaLevel} has no table ${absent.join(', ')}`);
  }
  let rows = 0;
  // Tables the manifest says are empty have nothing to load: their files only need to prove it.
  const filled = manifest.tables.filter((table) => table.rows > 0);
  await db.transaction().execute(async (trx) => {
    await sql`set local timezone = 'UTC'`.execute(trx);
    for (const seeded of SEEDED_BY_MIGRATIONS) await sql`delete from ${sql.table(seeded)}`.execute(trx);
    let done = 0;
    const load = async () => {
      for (const table of manifest.tables) {
        options.onTable?.(done++, manifest.tables.length);
        const digest = new TableDigest();
        try {
          await restoreTable(trx, directory, tables.get(table.name) as TableInfo, table, digest);
        } catch (error) {
          // A missing, truncated or edited file (a line that is not a row of this table): nothing is kept.
          // Only the code is shown: the database's message may quote a value from the file.
          throw new BackupIntegrityError(
            `${table.file} cannot be restored (${errorCode(error)}); nothing was restored`,
          );
        }
        const mismatch = tableMismatch(table, { rows: digest.rows, sha256: digest.hex() });
        if (mismatch) throw new BackupIntegrityError(`${mismatch}; nothing was restored`);
        rows += digest.rows;
      }
    };
    try {
      await withIndexesDeferred(
        trx,
        filled.map((table) => table.name),
        load,
      );
    } catch (error) {
      if (error instanceof BackupIntegrityError) throw error;
      // Every file matched its hash, yet a key or constraint built after the load refuses the rows.
      throw new BackupIntegrityError(
        `The restored rows break a key or constraint of the schema (${errorCode(error)}); nothing was restored`,
      );
    }
    options.onTable?.(done, manifest.tables.length);
    // Read back from the database, so what is committed is proven to be what the backup holds.
    for (const table of filled) {
      const mismatch = tableMismatch(table, await digestTable(trx, tables.get(table.name) as TableInfo));
      if (mismatch) {
        throw new BackupIntegrityError(
          `After inserting, table ${table.name} differs: ${mismatch}; nothing was restored`,
        );
      }
    }
    const notEmpty = await nonEmptyTables(
      trx,
      manifest.tables.filter((table) => table.rows === 0),
    );
    if (notEmpty.length > 0) {
      throw new BackupIntegrityError(
        `After inserting, ${notEmpty.join(', ')} hold rows the backup does not; nothing was restored`,
      );
    }
  });
  const createdAt = new Date(manifest.createdAt);
  const vault = new KeyVault({ db, keyring: options.keyring });
  const toErase = await vault.liveAmong([...new Set(journal.entries.map((entry) => entry.subject))]);
  const pending = new Set(toErase);
  return {
    manifest,
    rows,
    toErase,
    erasedSinceBackup: journal.entries.filter(
      (entry) => pending.has(entry.subject) && entry.erasedAt >= createdAt,
    ).length,
    journal: { exists: journal.exists, unverifiable: journal.unverifiable, entries: journal.entries.length },
  };
}

/** Fills one table from its file, adding the file's lines to `digest` as they are read. */
async function restoreTable(
  trx: Db,
  directory: string,
  info: TableInfo,
  table: ManifestTable,
  digest: TableDigest,
): Promise<void> {
  if (table.rows === 0) {
    for await (const chunk of openTableFile(directory, table)) digest.addBytes(chunk);
    return;
  }
  // PostgreSQL: the file's bytes go through COPY, hashed as they pass.
  if (await copyLinesIn(trx, info, () => [openTableFile(directory, table), digest.passThrough()])) return;
  let batch: string[] = [];
  for await (const lines of readTableFile(directory, table, digest)) {
    batch.push(...lines);
    if (batch.length >= ROWS_PER_BATCH) {
      await insertLines(trx, table.name, batch);
      batch = [];
    }
  }
  await insertLines(trx, table.name, batch);
}

const errorCode = (error: unknown) => String((error as { code?: unknown }).code ?? 'unreadable');

async function readJournal(journal: ErasureJournal | null): Promise<JournalReading> {
  if (!journal) return { exists: false, entries: [], tampered: [], unverifiable: 0 };
  const reading = await journal.read();
  if (!reading.exists) {
    throw new RestoreRefusedError(
      `The erasure journal ${journal.file} is missing, so erasures done after the backup cannot be re-applied and deleted customers could come back; put the journal back (it sits beside the key file), or, if it is lost for good, run again with --without-journal`,
    );
  }
  if (reading.tampered.length > 0) {
    throw new BackupIntegrityError(
      `The erasure journal ${journal.file} fails its MAC on line ${reading.tampered.slice(0, 5).join(', ')}${reading.tampered.length > 5 ? ', …' : ''}: it was edited; nothing was restored`,
    );
  }
  return reading;
}

/** Migrates an empty database to the backup's level, or refuses one that holds data or a newer schema. */
async function prepareEmptyDatabase(db: Db, manifest: Manifest): Promise<void> {
  const known = knownMigrations();
  const level = known.indexOf(manifest.schemaLevel);
  if (level < 0) {
    throw new RestoreRefusedError(
      `The backup's schema level ${manifest.schemaLevel} is unknown to this version of Hearth; restore it with the version that made it or a newer one`,
    );
  }
  const applied = await appliedMigrations(db);
  if (applied.length > level + 1) {
    throw new RestoreRefusedError(
      `The database is already migrated beyond the backup's level (${applied.at(-1)} after ${manifest.schemaLevel}); restore into a new, empty database`,
    );
  }
  if (applied.length > 0) await refuseUnlessEmpty(db);
  await migrateTo(db, manifest.schemaLevel);
  await refuseUnlessEmpty(db);
}

async function refuseUnlessEmpty(db: Db): Promise<void> {
  const tables = (await listTables(db)).filter((table) => !SEEDED_BY_MIGRATIONS.includes(table.name));
  const found = await nonEmptyTables(db, tables);
  if (found.length > 0) throw notEmpty(found);
}

function notEmpty(tables: string[]): RestoreRefusedError {
  return new RestoreRefusedError(
    `A restore needs an empty database, and this one holds rows in ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}; restore into a new database (or a new HEARTH_DATA_DIR), never over a live one`,
  );
}
