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

// Homes and devices (migration 0004). Sealed columns hold Sealer output under the subject `home:<id>`.
export type HomeRole = 'owner' | 'admin' | 'member' | 'guest';

export interface HomesTable {
  id: string;
  name: Buffer;
  time_zone: Buffer;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface HomeMembersTable {
  home_id: string;
  user_id: string;
  role: HomeRole;
  joined_at: Timestamp;
}

export interface HomeInvitationsTable {
  id: string;
  home_id: string;
  token_hash: Buffer;
  /** The users.email_index blind index of the invitee's address. */
  email_index: Buffer;
  email: Buffer;
  role: Exclude<HomeRole, 'owner'>;
  invited_by: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  accepted_at: NullableTimestamp;
  accepted_by: string | null;
  revoked_at: NullableTimestamp;
}

export interface DevicesTable {
  id: string;
  home_id: string;
  model: string;
  firmware: string;
  mac_index: Buffer;
  serial_index: Buffer;
  mac: Buffer;
  serial: Buffer;
  ssid: Buffer | null;
  ip: Buffer | null;
  nickname: Buffer | null;
  room: Buffer | null;
  credential_hash: Buffer;
  credential_issued_at: Timestamp;
  paired_by: string | null;
  paired_at: Timestamp;
  reported: Defaulted<Record<string, unknown>>;
  /** bigint: pg returns it as a string. */
  reported_version: ColumnType<string | number, number | undefined, number | string>;
  reported_at: NullableTimestamp;
  desired: Defaulted<Record<string, unknown>>;
  desired_version: ColumnType<string | number, number | undefined, number | string>;
  connected: Defaulted<boolean>;
  last_seen_at: NullableTimestamp;
}

export interface DeviceSharesTable {
  device_id: string;
  user_id: string;
  shared_at: Timestamp;
}

export interface DeviceClaimsTable {
  token_hash: Buffer;
  home_id: string;
  created_by: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  device_id: string | null;
}

export type CommandStatus = 'pending' | 'acknowledged' | 'failed' | 'timed-out';
export type CommandOrigin = 'app' | 'voice' | 'rule';

export interface DeviceCommandsTable {
  id: string;
  device_id: string;
  issued_by: string | null;
  name: string;
  params: Defaulted<Record<string, unknown>>;
  status: CommandStatus;
  error: string | null;
  created_at: Timestamp;
  completed_at: NullableTimestamp;
  /** Migration 0015: the console or API, a voice assistant, or an automation. */
  origin: Defaulted<CommandOrigin>;
}

export interface DeviceEventsTable {
  id: string;
  device_id: string;
  home_id: string;
  type: string;
  occurred_at: Timestamp;
  received_at: Timestamp;
  /** Sealed JSON under the home's key. */
  details: Buffer | null;
}

export interface BodyProfilesTable {
  id: string;
  home_id: string;
  user_id: string | null;
  created_by: string | null;
  /** Sealed JSON {name, heightCm, birthDate, sex}. */
  profile: Buffer;
  consent_given_at: NullableTimestamp;
  consent_given_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ScaleReadingsTable {
  id: string;
  profile_id: string;
  home_id: string;
  device_id: string | null;
  measured_at: Timestamp;
  /** Sealed JSON of the body composition figures. */
  reading: Buffer;
  created_at: Timestamp;
}

// Operators, integration grants and incidents (migration 0007).
export type OperatorRole = 'viewer' | 'responder' | 'admin';

export interface OperatorsTable {
  id: string;
  email_index: Buffer;
  /** Sealed under `operator:<id>`. */
  email: Buffer;
  role: OperatorRole;
  password_hash: string;
  /** Sealed under `operator:<id>`. */
  totp_secret: Buffer;
  totp_last_step: ColumnType<string | number | null, number | null | undefined, number | null>;
  created_at: Timestamp;
  disabled_at: NullableTimestamp;
}

export interface OperatorSessionsTable {
  token_hash: Buffer;
  operator_id: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  ended_at: NullableTimestamp;
}

export type IntegrationProvider = 'alexa' | 'google' | 'ifttt';

export interface IntegrationGrantsTable {
  id: string;
  user_id: string;
  provider: IntegrationProvider;
  /** Grants made before migration 0009 only; tokens live in oauth_tokens since. */
  token_hash: Buffer | null;
  created_at: Timestamp;
  revoked_at: NullableTimestamp;
  revoke_reason: string | null;
  // Migration 0009: null only on grants made before it.
  client_id: string | null;
  home_id: string | null;
  scope: Defaulted<string>;
  last_used_at: NullableTimestamp;
  notify_status: GrantNotifyStatus | null;
  notify_attempts: Defaulted<number>;
  /** Migration 0012: new devices of the home join the grant; false on grants made before it. */
  include_new_devices: Defaulted<boolean>;
}

// OAuth account linking (migration 0009).
export type GrantNotifyStatus = 'pending' | 'told' | 'failed';

export interface OAuthClientsTable {
  id: string;
  kind: IntegrationProvider;
  name: string;
  redirect_uris: ColumnType<string[], string, string>;
  secret_hash: Buffer;
  created_by: string;
  created_at: Timestamp;
  removed_at: NullableTimestamp;
}

export interface IntegrationGrantDevicesTable {
  grant_id: string;
  device_id: string;
}

export interface OAuthAuthorizationCodesTable {
  code_hash: Buffer;
  client_id: string;
  user_id: string;
  home_id: string;
  device_ids: ColumnType<string[], string, string>;
  redirect_uri: string;
  scope: string;
  code_challenge: string;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  grant_id: string | null;
  created_at: Timestamp;
  include_new_devices: Defaulted<boolean>;
  /** Migration 0014: when a second exchange of the code was seen. */
  reused_at: NullableTimestamp;
}

export interface OAuthTokensTable {
  id: string;
  grant_id: string;
  access_hash: Buffer;
  access_expires_at: Timestamp;
  refresh_hash: Buffer;
  refresh_expires_at: NullableTimestamp;
  rotated_at: NullableTimestamp;
  created_at: Timestamp;
}

export type IncidentStatus = 'declared' | 'contained' | 'notifying' | 'closed';

export interface IncidentsTable {
  id: string;
  title: string;
  description: string;
  detected_at: Timestamp;
  window_from: Timestamp;
  window_to: Timestamp;
  /** JSON array of store names, e.g. ["analytics copy"]. */
  stores: ColumnType<string[], string, string>;
  /** JSON array of DataCategory ids. */
  categories: ColumnType<string[], string, string>;
  /** JSON IncidentScope (see src/incidents/model.ts). */
  scope: ColumnType<Record<string, unknown>, string, string>;
  status: IncidentStatus;
  declared_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  resolved_at: NullableTimestamp;
  affected_count: number | null;
  /** JSON {category: people}. */
  category_counts: ColumnType<Record<string, number> | null, string | null, string | null>;
  /** JSON {category: records}. */
  record_counts: ColumnType<Record<string, number> | null, string | null, string | null>;
}

export interface IncidentScopeUsersTable {
  incident_id: string;
  user_id: string;
}

export interface IncidentTimelineTable {
  incident_id: string;
  seq: number;
  at: Timestamp;
  actor: string;
  kind: string;
  summary: string;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface IncidentAffectedTable {
  incident_id: string;
  user_id: string;
  /** Bitmask of DataCategory bits (src/incidents/categories.ts). */
  categories: number;
}

export type IncidentActionStatus = 'running' | 'done' | 'failed';

export interface IncidentActionsTable {
  incident_id: string;
  action: string;
  params: ColumnType<Record<string, unknown>, string | undefined, string>;
  status: IncidentActionStatus;
  total: Defaulted<number>;
  done: Defaulted<number>;
  cursor: string | null;
  error: string | null;
  started_by: string;
  started_at: Timestamp;
  updated_at: Timestamp;
  finished_at: NullableTimestamp;
}

export type IncidentNoticeStatus = 'pending' | 'queued' | 'skipped';

export interface IncidentNoticesTable {
  incident_id: string;
  user_id: string;
  status: IncidentNoticeStatus;
  mail_id: string | null;
  attempt: Defaulted<number>;
  queued_at: NullableTimestamp;
}

export interface MetricsScrapeTokensTable {
  id: string;
  name: string;
  token_hash: Buffer;
  created_by: string;
  created_at: Timestamp;
  revoked_at: NullableTimestamp;
}

export interface LeasesTable {
  name: string;
  holder: string;
  taken_at: Timestamp;
  expires_at: Timestamp;
}

/** Login with Amazon tokens of an Alexa link (migration 0010); `id` is the grant's. */
export interface AssistantTokensTable {
  id: string;
  user_id: string;
  tokens: Buffer;
  updated_at: Defaulted<Date>;
  disabled_at: NullableTimestamp;
  disabled_reason: string | null;
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
  homes: HomesTable;
  home_members: HomeMembersTable;
  home_invitations: HomeInvitationsTable;
  devices: DevicesTable;
  device_shares: DeviceSharesTable;
  device_claims: DeviceClaimsTable;
  device_commands: DeviceCommandsTable;
  device_events: DeviceEventsTable;
  body_profiles: BodyProfilesTable;
  scale_readings: ScaleReadingsTable;
  operators: OperatorsTable;
  operator_sessions: OperatorSessionsTable;
  integration_grants: IntegrationGrantsTable;
  incidents: IncidentsTable;
  incident_scope_users: IncidentScopeUsersTable;
  incident_timeline: IncidentTimelineTable;
  incident_affected: IncidentAffectedTable;
  incident_actions: IncidentActionsTable;
  incident_notices: IncidentNoticesTable;
  metrics_scrape_tokens: MetricsScrapeTokensTable;
  oauth_clients: OAuthClientsTable;
  integration_grant_devices: IntegrationGrantDevicesTable;
  oauth_authorization_codes: OAuthAuthorizationCodesTable;
  oauth_tokens: OAuthTokensTable;
  leases: LeasesTable;
  assistant_tokens: AssistantTokensTable;
}
