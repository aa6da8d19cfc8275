import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { KeyError } from '../crypto/errors.js';
import type { Keyring } from '../crypto/keyring.js';
import {
  MANIFEST_FILE,
  type Manifest,
  type ManifestTable,
  manifestMacMatches,
  manifestSchema,
} from './manifest.js';
import { TableDigest } from './tables.js';

export interface BackupCheck {
  /** Null when the manifest itself is missing, unreadable or not authentic. */
  manifest: Manifest | null;
  /** What is wrong, one line each; empty when the backup is whole and authentic. */
  problems: string[];
}

/** The manifest, parsed and checked against its MAC; problems instead when it is not to be trusted. */
export async function readManifest(
  directory: string,
  keyring: Keyring,
): Promise<{ manifest: Manifest } | { problems: string[] }> {
  let text: string;
  try {
    text = await readFile(path.join(directory, MANIFEST_FILE), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      problems: [
        code === 'ENOENT'
          ? `${MANIFEST_FILE} is missing: this is not a backup, or an unfinished one`
          : `${MANIFEST_FILE} cannot be read (${code ?? 'error'})`,
      ],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problems: [`${MANIFEST_FILE} is not valid JSON`] };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      problems: [
        `${MANIFEST_FILE} is not a Hearth backup manifest (${issue?.path.join('.') || 'root'}: ${issue?.message})`,
      ],
    };
  }
  try {
    if (!(await manifestMacMatches(keyring, parsed.data))) {
      return {
        problems: [
          `${MANIFEST_FILE} fails its MAC: it was changed after the backup was made, or made with another key`,
        ],
      };
    }
  } catch (error) {
    if (error instanceof KeyError) {
      return { problems: [`${MANIFEST_FILE} cannot be checked: ${error.message}`] };
    }
    throw error;
  }
  return { manifest: parsed.data };
}

/** Reads a table file to its end, in batches of lines, hashing as it goes. */
export async function* readTableFile(
  directory: string,
  table: ManifestTable,
  digest: TableDigest,
): AsyncGenerator<string[]> {
  const input = openTableFile(directory, table);
  // A character split between two chunks is held back until its last byte arrives.
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input as AsyncIterable<Buffer>) {
    const text = rest + decoder.write(chunk);
    const end = text.lastIndexOf('\n');
    rest = text.slice(end + 1);
    if (end < 0) continue;
    const lines = text.slice(0, end).split('\n');
    digest.addLines(lines);
    yield lines;
  }
  rest += decoder.end();
  if (rest !== '') {
    // A last line without its newline: hashed as a line would be, so the hash tells it does not match.
    digest.addLines([rest]);
    yield [rest];
  }
}

/** Whether a table file holds exactly what the manifest says; a sentence when it does not. */
export function tableMismatch(table: ManifestTable, digest: { rows: number; sha256: string }): string | null {
  if (digest.rows !== table.rows) {
    return `${table.file} holds ${digest.rows} rows, the manifest says ${table.rows}`;
  }
  if (digest.sha256 !== table.sha256) return `${table.file} does not match its SHA-256 in the manifest`;
  return null;
}

/** A table file's uncompressed bytes, read and inflated in large chunks. */
export function openTableFile(directory: string, table: ManifestTable): Readable {
  // `pipeline` rather than `pipe`: a missing or unreadable file fails the reader of the inflated stream.
  return pipeline(
    createReadStream(path.join(directory, table.file), { highWaterMark: FILE_CHUNK }),
    createGunzip({ chunkSize: FILE_CHUNK }),
    () => {},
  );
}

/** Larger than the 64 KiB / 16 KiB defaults: fewer, larger reads and hash updates. */
const FILE_CHUNK = 256 * 1024;

/** Rows and SHA-256 of a table file's lines, from its bytes: what `TableDigest` gives for the same lines. */
async function digestFile(
  directory: string,
  table: ManifestTable,
): Promise<{ rows: number; sha256: string }> {
  const digest = new TableDigest();
  for await (const chunk of openTableFile(directory, table)) digest.addBytes(chunk);
  return { rows: digest.rows, sha256: digest.hex() };
}

/**
 * The manifest's MAC and whether the KEK versions the backup needs are still here: what can be known
 * before reading any table file.
 */
export async function checkManifest(directory: string, keyring: Keyring): Promise<BackupCheck> {
  const read = await readManifest(directory, keyring);
  if ('problems' in read) return { manifest: null, problems: read.problems };
  const available = (await keyring.load()).keys;
  const missing = read.manifest.kek.wrapVersions.filter((version) => !available.has(version));
  if (missing.length === 0) return { manifest: read.manifest, problems: [] };
  return {
    manifest: read.manifest,
    problems: [
      `KEK version${missing.length > 1 ? 's' : ''} ${missing.join(', ')} needed to open this backup's data keys ${missing.length > 1 ? 'are' : 'is'} no longer available (destroyed after HEARTH_KEK_RETENTION_DAYS?)`,
    ],
  };
}

/**
 * Checks the manifest's MAC and every file's row count and SHA-256. Needs only the key, not a database,
 * so a backup can be checked on any machine that holds the key.
 */
export async function verifyBackup(directory: string, keyring: Keyring): Promise<BackupCheck> {
  const { manifest, problems } = await checkManifest(directory, keyring);
  if (!manifest) return { manifest, problems };
  for (const table of manifest.tables) {
    try {
      const mismatch = tableMismatch(table, await digestFile(directory, table));
      if (mismatch) problems.push(mismatch);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT'
          ? `${table.file} is missing`
          : `${table.file} cannot be read (${code ?? 'corrupt'})`,
      );
    }
  }
  const expected = new Set([MANIFEST_FILE, ...manifest.tables.map((table) => table.file)]);
  for (const entry of await readdir(directory)) {
    if (!expected.has(entry)) problems.push(`${entry} is not part of the backup`);
  }
  return { manifest, problems };
}
