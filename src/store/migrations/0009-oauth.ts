import { type Kysely, sql } from 'kysely';

/**
 * Hearth as an OAuth 2 authorization server for Alexa, Google Home and IFTTT account linking. Nothing here
 * is sealed because nothing here is personal: client names and redirect URIs are the operator's, and every
 * secret (client secret, authorization code, access and refresh token) is stored only as its SHA-256.
 * A grant is one link: one user, one home, the devices of it that the assistant may see.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oauth_clients')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('alexa', 'google', 'ifttt')`))
    // The operator's label ("Alexa skill EU"), shown to customers on the consent page and their link list.
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('redirect_uris', 'jsonb', (c) => c.notNull())
    .addColumn('secret_hash', 'bytea', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('removed_at', 'timestamptz')
    .execute();

  // Grants issued before this migration (none in production) kept their token hash in the grant row.
  await db.schema
    .alterTable('integration_grants')
    .alterColumn('token_hash', (c) => c.dropNotNull())
    .execute();
  await db.schema
    .alterTable('integration_grants')
    .addColumn('client_id', 'uuid', (c) => c.references('oauth_clients.id'))
    .addColumn('home_id', 'uuid', (c) => c.references('homes.id').onDelete('cascade'))
    .addColumn('scope', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('last_used_at', 'timestamptz')
    // Whether the provider has heard of the revocation: null while the grant is live.
    .addColumn('notify_status', 'text', (c) => c.check(sql`notify_status in ('pending', 'told', 'failed')`))
    .addColumn('notify_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('integration_grants_notify')
    .on('integration_grants')
    .column('notify_status')
    .where(sql.ref('notify_status'), 'in', ['pending', 'failed'])
    .execute();

  await db.schema
    .createTable('integration_grant_devices')
    .addColumn('grant_id', 'uuid', (c) => c.notNull().references('integration_grants.id').onDelete('cascade'))
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('integration_grant_devices_pk', ['grant_id', 'device_id'])
    .execute();
  await db.schema
    .createIndex('integration_grant_devices_device')
    .on('integration_grant_devices')
    .column('device_id')
    .execute();

  await db.schema
    .createTable('oauth_authorization_codes')
    .addColumn('code_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('client_id', 'uuid', (c) => c.notNull().references('oauth_clients.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('device_ids', 'jsonb', (c) => c.notNull())
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('code_challenge', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    // The grant its exchange created, so a second use can end it (RFC 6749 §4.1.2).
    .addColumn('grant_id', 'uuid', (c) => c.references('integration_grants.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('oauth_authorization_codes_expiry')
    .on('oauth_authorization_codes')
    .column('expires_at')
    .execute();

  await db.schema
    .createTable('oauth_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('grant_id', 'uuid', (c) => c.notNull().references('integration_grants.id').onDelete('cascade'))
    .addColumn('access_hash', 'bytea', (c) => c.notNull().unique())
    .addColumn('access_expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('refresh_hash', 'bytea', (c) => c.notNull().unique())
    // Null: the refresh token never expires on a timer (IFTTT's rule).
    .addColumn('refresh_expires_at', 'timestamptz')
    // When its refresh token was traded; a retry within the grace window gets the same successor pair.
    .addColumn('rotated_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('oauth_tokens_grant').on('oauth_tokens').column('grant_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oauth_tokens').execute();
  await db.schema.dropTable('oauth_authorization_codes').execute();
  await db.schema.dropTable('integration_grant_devices').execute();
  await db.schema.dropIndex('integration_grants_notify').execute();
  for (const column of [
    'client_id',
    'home_id',
    'scope',
    'last_used_at',
    'notify_status',
    'notify_attempts',
  ]) {
    await db.schema.alterTable('integration_grants').dropColumn(column).execute();
  }
  await db.schema.dropTable('oauth_clients').execute();
}
