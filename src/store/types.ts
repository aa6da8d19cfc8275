import type { ColumnType } from 'kysely';

/** PGlite returns bytea as Uint8Array and pg as Buffer; the stores see Buffer from both. */
export function normaliseRow(row: Record<string, unknown>): Record<string, unknown> {
  for (const key in row) {
    const value = row[key];
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
      row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return row;
}

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface KekVersionsTable {
  version: number;
  registered_at: Timestamp;
}

export interface KekRetiredTable {
  version: number;
  retired_at: Timestamp;
}

export interface KeyVaultTable {
  subject: string;
  dek_version: number;
  /** Null once the subject is crypto-shredded. */
  kek_version: number | null;
  /** The DEK wrapped by the KEK of kek_version; null once the subject is crypto-shredded. */
  wrapped_dek: Buffer | null;
  created_at: Timestamp;
  rewrapped_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  destroyed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface AuditLogTable {
  seq: number;
  /** Random, so sealed details can be made before the entry's place in the chain is known. */
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string | null;
  /** Sealed JSON under details_subject's key, so erasing that subject erases the details too. */
  details: Buffer | null;
  details_subject: string | null;
  prev_hash: Buffer;
  hash: Buffer;
}

export interface Database {
  kek_versions: KekVersionsTable;
  kek_retired: KekRetiredTable;
  key_vault: KeyVaultTable;
  audit_log: AuditLogTable;
}
