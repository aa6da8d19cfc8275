/**
 * Every sealed column, as data: where its ciphertext lives and how its associated data is built from the
 * row (the subject whose key seals it, and the row id). Each store's header names the same columns; this
 * list is what whole-database checks walk (`hearth repair sealed-ids`, later `hearth doctor`).
 *
 * Left out on purpose: `audit_log.details`, whose ciphertext is part of the hash chain (re-sealing it would
 * break verification) and whose subject is stored in the row it opens from.
 */
export interface SealedColumn {
  table: string;
  column: string;
  /** The primary key, walked in order; its value gives the row id. */
  key: 'id' | 'token_hash';
  /** The key subject: a fixed prefix before a column's value (e.g. `home:` + `home_id`). */
  subject: { prefix: string; column: string };
}

const byId = (table: string, column: string, prefix: string, subjectColumn = 'id'): SealedColumn => ({
  table,
  column,
  key: 'id',
  subject: { prefix, column: subjectColumn },
});

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  byId('users', 'name', 'user:'),
  byId('users', 'email', 'user:'),
  byId('users', 'totp_secret', 'user:'),
  byId('sessions', 'client', 'user:', 'user_id'),
  byId('sessions', 'ip', 'user:', 'user_id'),
  {
    table: 'one_time_tokens',
    column: 'payload',
    key: 'token_hash',
    subject: { prefix: 'user:', column: 'user_id' },
  },
  byId('operators', 'email', 'operator:'),
  byId('operators', 'totp_secret', 'operator:'),
  byId('homes', 'name', 'home:'),
  byId('homes', 'time_zone', 'home:'),
  byId('home_invitations', 'email', 'home:', 'home_id'),
  ...(['mac', 'serial', 'ssid', 'ip', 'nickname', 'room'] as const).map((column) =>
    byId('devices', column, 'home:', 'home_id'),
  ),
  byId('device_events', 'details', 'home:', 'home_id'),
  byId('body_profiles', 'profile', 'home:', 'home_id'),
  byId('scale_readings', 'reading', 'home:', 'home_id'),
  // The subject is stored with each message (a user's, a home's, or the message's own).
  byId('mail_outbox', 'recipient', '', 'seal_subject'),
  byId('mail_outbox', 'content', '', 'seal_subject'),
  byId('assistant_tokens', 'tokens', 'user:', 'user_id'),
];

/** The row id bound into a sealed value, from the row's primary key as the database returns it. */
export function rowIdOf(column: SealedColumn, key: unknown): string {
  return column.key === 'token_hash' ? Buffer.from(key as Buffer).toString('hex') : String(key);
}
