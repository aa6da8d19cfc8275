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
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** A column with a database default: optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

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

// Accounts (migration 0002). Sealed columns hold Sealer output under the subject `user:<id>`.
export interface UsersTable {
  id: string;
  email_index: Buffer;
  email: Buffer;
  name: Buffer;
  password_hash: string;
  password_changed_at: Timestamp;
  password_reset_required: Defaulted<boolean>;
  email_verified_at: NullableTimestamp;
  security_epoch: Defaulted<number>;
  totp_secret: Buffer | null;
  totp_enabled_at: NullableTimestamp;
  totp_last_step: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface GlobalSecurityTable {
  id: number;
  epoch: number;
  reset_required_before: NullableTimestamp;
  updated_at: Timestamp;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  user_epoch: number;
  global_epoch: number;
  created_at: Timestamp;
  last_used_at: Timestamp;
  expires_at: Timestamp;
  ended_at: NullableTimestamp;
  end_reason: string | null;
  client: Buffer | null;
  ip: Buffer | null;
}

export interface SessionTokensTable {
  token_hash: Buffer;
  session_id: string;
  kind: 'access' | 'refresh';
  issued_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface OneTimeTokensTable {
  token_hash: Buffer;
  user_id: string;
  purpose: string;
  payload: Buffer | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface RecoveryCodesTable {
  code_hash: Buffer;
  user_id: string;
  created_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface RateLimitsTable {
  key: Buffer;
  hits: number;
  window_started_at: Timestamp;
  strikes: Defaulted<number>;
  blocked_until: NullableTimestamp;
  updated_at: Timestamp;
}

// Mail (migration 0003).
export type MailStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'cancelled';

export interface MailOutboxTable {
  id: string;
  idempotency_key: string;
  template: string;
  seal_subject: string;
  /** Sealed; null once delivered (or cancelled). */
  recipient: Buffer | null;
  /** Sealed JSON {subject, text, html}; null once delivered (or cancelled). */
  content: Buffer | null;
  status: MailStatus;
  attempts: Defaulted<number>;
  next_attempt_at: Timestamp;
  lease_until: NullableTimestamp;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
}

export interface Database {
  kek_versions: KekVersionsTable;
  kek_retired: KekRetiredTable;
  key_vault: KeyVaultTable;
  audit_log: AuditLogTable;
  users: UsersTable;
  global_security: GlobalSecurityTable;
  sessions: SessionsTable;
  session_tokens: SessionTokensTable;
  one_time_tokens: OneTimeTokensTable;
  recovery_codes: RecoveryCodesTable;
  rate_limits: RateLimitsTable;
  mail_outbox: MailOutboxTable;
}
