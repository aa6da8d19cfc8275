import { createWriteStream } from 'node:fs';
import { chmod, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { sql } from 'kysely';
import type { Keyring } from '../crypto/keyring.js';
import { DirectoryError, makeDirectory } from '../make-directory.js';
import type { Db } from '../store/database.js';
import { BACKUP_FORMAT, MANIFEST_FILE, type Manifest, type ManifestTable, signManifest } from './manifest.js';
import { copyTableOut, inSnapshot, listTables, readTable, TableDigest, type TableInfo } from './tables.js';

/** A destination refused before anything is written; the message says why and what to do. */
export class BackupDestinationError extends Error {
  override name = 'BackupDestinationError';
}

/** Directories a backup must never be written into (nor contain): where the key and the journal live. */
export interface KeyLocations {
  /** The key file's directory (file provider), the data directory (the default key location), the journal's. */
  directories: string[];
}

/** The path with symbolic links resolved as far as it exists, so a link cannot smuggle a backup in. */
async function resolveReal(target: string): Promise<string> {
  const absolute = path.resolve(target);
  let existing = absolute;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(existing), ...rest.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      const parent = path.dirname(existing);
      if (parent === existing) return absolute;
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}

const isInside = (child: string, parent: string) => {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
};

/**
 * Refuses a destination inside (or holding) a directory with the key or the erasure journal, and one that
 * is not an empty directory: a backup must never carry the key that opens it, nor mix with other files.
 */
export async function checkBackupDestination(destination: string, keys: KeyLocations): Promise<void> {
  const real = await resolveReal(destination);
  for (const directory of keys.directories) {
    const keyDir = await resolveReal(directory);
    if (isInside(real, keyDir) || isInside(keyDir, real)) {
      throw new BackupDestinationError(
        `Refusing to write a backup to ${destination}: it is inside or contains ${directory}, where the key file or data directory lives, so a copy of the backup could carry the key that opens it; choose a directory elsewhere`,
      );
    }
  }
  let entries: string[];
  try {
    if (!(await stat(real)).isDirectory()) {
      throw new BackupDestinationError(`Refusing to write a backup to ${destination}: it is not a directory`);
    }
    entries = await readdir(real);
  } catch (error) {
    // Not there yet (or a file on the way): creating it says whether it can be made.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  if (entries.length > 0) {
    throw new BackupDestinationError(
      `Refusing to write a backup to ${destination}: the directory is not empty (${entries.length} entries); give a new or empty directory`,
    );
  }
}

export interface CreateBackupOptions {
  db: Db;
  keyring: Keyring;
  destination: string;
  onTable?: (done: number, total: number) => void;
  /** Checked between batches; throws what the caller wants to report when it is aborted. */
  checkpoint?: () => void;
}

/**
 * Writes every Hearth table, read from one snapshot, to `<table>.ndjson.gz` in the destination (mode 0600,
 * the directory 0700), then `manifest.json` with counts, hashes and the MAC. The manifest comes last: a
 * directory without one is an unfinished backup. On failure the files written are removed again.
 */
export async function createBackup(options: CreateBackupOptions): Promise<Manifest> {
  const { db, keyring, destination } = options;
  const created = await makeDirectory(destination, 'the backup directory').catch((error: unknown) => {
    throw error instanceof DirectoryError ? new BackupDestinationError(error.message) : error;
  });
  await chmod(destination, 0o700);
  const written: string[] = [];
  try {
    const unsigned = await inSnapshot(db, async (trx) => {
      const { rows } = await sql<{ now: Date; level: string | null; versions: number[] | null }>`
        select now() as now,
          (select max(name) from kysely_migration) as level,
          (select array_agg(distinct kek_version order by kek_version) from key_vault
            where kek_version is not null) as versions`.execute(trx);
      const facts = rows[0] as { now: Date; level: string | null; versions: number[] | null };
      const tables = await listTables(trx);
      const entries: ManifestTable[] = [];
      for (const table of tables) {
        options.onTable?.(entries.length, tables.length);
        const file = `${table.name}.ndjson.gz`;
        written.push(path.join(destination, file));
        entries.push({
          name: table.name,
          file,
          ...(await writeTable(trx, table, written.at(-1) as string, options.checkpoint)),
        });
      }
      options.onTable?.(tables.length, tables.length);
      return {
        format: BACKUP_FORMAT,
        createdAt: new Date(facts.now).toISOString(),
        schemaLevel: facts.level ?? 'none',
        kek: { macVersion: (await keyring.load()).current, wrapVersions: (facts.versions ?? []).map(Number) },
        tables: entries,
      } satisfies Omit<Manifest, 'mac'>;
    });
    const manifest = await signManifest(keyring, unsigned);
    const manifestFile = path.join(destination, MANIFEST_FILE);
    written.push(manifestFile);
    await writeSynced(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } catch (error) {
    await Promise.all(written.map((file) => rm(file, { force: true })));
    if (created) await rm(created, { recursive: true, force: true });
    throw error;
  }
}

async function writeTable(
  trx: Db,
  table: TableInfo,
  file: string,
  checkpoint: (() => void) | undefined,
): Promise<{ rows: number; sha256: string }> {
  const digest = new TableDigest();
  // Level 1: most of the size win for a fraction of the time; `flush` fsyncs the file before it closes.
  const output = () => [
    createGzip({ level: 1, chunkSize: GZIP_CHUNK }),
    createWriteStream(file, { flags: 'wx', mode: 0o600, flush: true }),
  ];
  const copied = await copyTableOut(trx, table);
  if (copied) {
    // PostgreSQL: the lines come out of COPY as the file holds them, hashed as they pass.
    await pipeline([copied, digest.passThrough(checkpoint), ...output()]);
    return { rows: digest.rows, sha256: digest.hex() };
  }
  async function* text() {
    for await (const lines of readTable(trx, table)) {
      checkpoint?.();
      const text = `${lines.join('\n')}\n`;
      digest.addText(text, lines.length);
      yield text;
    }
  }
  await pipeline([Readable.from(text()), ...output()]);
  return { rows: digest.rows, sha256: digest.hex() };
}

/** Larger than zlib's 16 KiB default: fewer, larger writes. */
const GZIP_CHUNK = 256 * 1024;

async function writeSynced(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
