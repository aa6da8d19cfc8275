import { hasOnlyCanonicalIds } from '../schema/ids.js';
import { decrypt, encrypt, IV_BYTES, TAG_BYTES } from './aead.js';
import { NonCanonicalIdError, SealedFieldError } from './errors.js';
import type { KeyVault } from './vault.js';

/** Where a sealed value lives; bound into the ciphertext so it cannot be moved elsewhere. */
export interface FieldRef {
  table: string;
  column: string;
  rowId: string;
}

/**
 * Sealed value format, version 1:
 *   byte 0      format version (1)
 *   bytes 1-4   DEK version, unsigned big-endian
 *   bytes 5-16  random IV (96 bits)
 *   then        AES-256-GCM ciphertext, then the 16-byte tag
 * The KEK version lives with the wrapped DEK in the key vault, so rotating KEKs never touches sealed values.
 */
export const SEALED_FORMAT_VERSION = 1;
const HEADER_BYTES = 5;

/** The JSON text of the array's first four elements, which repeat for every row of a column. */
const columnPrefixes = new Map<string, string>();

/**
 * `JSON.stringify(['hearth-field', version, table, column, rowId, subject])`, built from a cached prefix per
 * column: the same bytes, without serialising the constant part for every one of thousands of rows.
 */
export function associatedData(subject: string, field: FieldRef): Buffer {
  const key = `${field.table}\u0000${field.column}`;
  let prefix = columnPrefixes.get(key);
  if (prefix === undefined) {
    prefix = JSON.stringify(['hearth-field', SEALED_FORMAT_VERSION, field.table, field.column]).slice(0, -1);
    columnPrefixes.set(key, prefix);
  }
  return Buffer.from(`${prefix},${JSON.stringify(field.rowId)},${JSON.stringify(subject)}]`);
}

export function describeSealed(sealed: Buffer): { formatVersion: number; dekVersion: number } {
  if (sealed.length < HEADER_BYTES + IV_BYTES + TAG_BYTES || sealed[0] !== SEALED_FORMAT_VERSION) {
    throw new SealedFieldError('Not a sealed value of a known format', 'format');
  }
  return { formatVersion: SEALED_FORMAT_VERSION, dekVersion: sealed.readUInt32BE(1) };
}

function openWith(key: Buffer, subject: string, field: FieldRef, sealed: Buffer): Buffer {
  const plaintext = decrypt(key, sealed, associatedData(subject, field), HEADER_BYTES);
  if (!plaintext) {
    throw new SealedFieldError(
      `Sealed value of ${field.table}.${field.column} does not open: it was altered, moved from another row or column, or sealed under another key`,
      'unauthentic',
    );
  }
  return plaintext;
}

function sealWith(
  version: number,
  key: Buffer,
  subject: string,
  field: FieldRef,
  plaintext: Buffer | string,
) {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header[0] = SEALED_FORMAT_VERSION;
  header.writeUInt32BE(version, 1);
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  return encrypt(key, data, associatedData(subject, field), header);
}

/**
 * Refuses to seal under an id the database would spell differently: the row would be written, and never open
 * again. Routes canonicalise ids and stores take them from the database; this catches a path that does not.
 */
function assertCanonicalField(subject: string, field: FieldRef): void {
  if (!hasOnlyCanonicalIds(subject) || !hasOnlyCanonicalIds(field.rowId)) {
    throw new NonCanonicalIdError(
      `Refusing to seal ${field.table}.${field.column} under an id not in lower case; canonicalise it first (src/schema/ids.ts)`,
    );
  }
}

/** Encrypts personal fields under their subject's data key before they reach the database. */
export class Sealer {
  constructor(private readonly vault: KeyVault) {}

  async seal(subject: string, field: FieldRef, plaintext: Buffer | string): Promise<Buffer> {
    assertCanonicalField(subject, field);
    const { version, key } = await this.vault.currentKey(subject);
    return sealWith(version, key, subject, field, plaintext);
  }

  /**
   * Seals many JSON values of one subject with a single key look-up and no promise per value: the ingest
   * seals thousands of event details a second, mostly a few homes' at a time.
   */
  async sealJsonMany(subject: string, values: { field: FieldRef; value: unknown }[]): Promise<Buffer[]> {
    for (const { field } of values) assertCanonicalField(subject, field);
    const { version, key } = await this.vault.currentKey(subject);
    return values.map(({ field, value }) => sealWith(version, key, subject, field, JSON.stringify(value)));
  }

  async open(subject: string, field: FieldRef, sealed: Buffer): Promise<Buffer> {
    const { dekVersion } = describeSealed(sealed);
    return openWith(await this.vault.keyFor(subject, dekVersion), subject, field, sealed);
  }

  sealString(subject: string, field: FieldRef, value: string): Promise<Buffer> {
    return this.seal(subject, field, value);
  }

  async openString(subject: string, field: FieldRef, sealed: Buffer): Promise<string> {
    // The same steps as open(), without a second async layer: this is the hot path of every read.
    const { dekVersion } = describeSealed(sealed);
    return openWith(await this.vault.keyFor(subject, dekVersion), subject, field, sealed).toString('utf8');
  }

  /**
   * Opens many string values, of many subjects, with one key look-up per DEK version rather than one per
   * subject (e.g. the names and addresses of a batch of users). Throws as `openString` would for the first
   * value that does not open, e.g. a SealedFieldError `erased` for a subject that was crypto-shredded.
   */
  async openStringMany(
    values: readonly { subject: string; field: FieldRef; sealed: Buffer }[],
  ): Promise<string[]> {
    const versions = values.map(({ sealed }) => describeSealed(sealed).dekVersion);
    const keys = new Map<number, Map<string, Buffer>>();
    for (const version of new Set(versions)) {
      const subjects = values.filter((_, i) => versions[i] === version).map(({ subject }) => subject);
      keys.set(version, await this.vault.keysFor(subjects, version));
    }
    const opened: string[] = [];
    for (const [i, { subject, field, sealed }] of values.entries()) {
      const version = versions[i] as number;
      // Absent from the batch: keyFor throws the reason (erased, missing), or finds a key created since.
      const key = keys.get(version)?.get(subject) ?? (await this.vault.keyFor(subject, version));
      opened.push(openWith(key, subject, field, sealed).toString('utf8'));
    }
    return opened;
  }

  sealNumber(subject: string, field: FieldRef, value: number): Promise<Buffer> {
    if (!Number.isFinite(value)) throw new RangeError('Only finite numbers can be sealed');
    const data = Buffer.allocUnsafe(8);
    data.writeDoubleBE(value);
    return this.seal(subject, field, data);
  }

  async openNumber(subject: string, field: FieldRef, sealed: Buffer): Promise<number> {
    const data = await this.open(subject, field, sealed);
    if (data.length !== 8) throw new SealedFieldError('Sealed value is not a number', 'format');
    return data.readDoubleBE();
  }

  sealJson(subject: string, field: FieldRef, value: unknown): Promise<Buffer> {
    return this.seal(subject, field, JSON.stringify(value));
  }

  async openJson<T = unknown>(subject: string, field: FieldRef, sealed: Buffer): Promise<T> {
    return JSON.parse(await this.openString(subject, field, sealed)) as T;
  }
}
