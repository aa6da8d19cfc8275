import { type Kysely, sql } from 'kysely';

/**
 * Homes, their members, devices, and what devices report. Personal values (home names, time zones,
 * nicknames, rooms, Wi-Fi SSIDs, MAC addresses, serials, IP addresses, event details, body profiles and
 * readings) are sealed under the home's own key (subject `home:<id>`), so deleting a home's key erases
 * everything recorded about it. Secrets (claim tokens, invitation tokens, device passwords) are stored only
 * as SHA-256 hashes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('homes')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'bytea', (c) => c.notNull())
    .addColumn('time_zone', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('homes_created_at').on('homes').column('created_at').execute();

  await db.schema
    .createTable('home_members')
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('owner', 'admin', 'member', 'guest')`))
    .addColumn('joined_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('home_members_pk', ['home_id', 'user_id'])
    .execute();
  await db.schema
    .createIndex('home_members_user')
    .on('home_members')
    .columns(['user_id', 'home_id'])
    .execute();

  await db.schema
    .createTable('home_invitations')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('token_hash', 'bytea', (c) => c.notNull().unique())
    // Blind index of the invitee's normalised address (the users.email_index key), sealed address beside it.
    .addColumn('email_index', 'bytea', (c) => c.notNull())
    .addColumn('email', 'bytea', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'member', 'guest')`))
    .addColumn('invited_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('accepted_at', 'timestamptz')
    .addColumn('accepted_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('home_invitations_home').on('home_invitations').column('home_id').execute();

  await db.schema
    .createTable('devices')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('firmware', 'text', (c) => c.notNull())
    // Blind indexes of the normalised MAC and serial: a device is found again (and cannot be claimed twice)
    // without either being readable.
    .addColumn('mac_index', 'bytea', (c) => c.notNull().unique())
    .addColumn('serial_index', 'bytea', (c) => c.notNull().unique())
    .addColumn('mac', 'bytea', (c) => c.notNull())
    .addColumn('serial', 'bytea', (c) => c.notNull())
    .addColumn('ssid', 'bytea')
    .addColumn('ip', 'bytea')
    .addColumn('nickname', 'bytea')
    .addColumn('room', 'bytea')
    // SHA-256 of the random MQTT password (256 bits from the CSPRNG; a slow hash adds nothing at that
    // entropy and would cost every broker connect).
    .addColumn('credential_hash', 'bytea', (c) => c.notNull())
    .addColumn('credential_issued_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('paired_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('paired_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // The shadow: what the device last reported and what the cloud wants; enum states and numbers only.
    .addColumn('reported', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('reported_version', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reported_at', 'timestamptz')
    .addColumn('desired', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('desired_version', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('connected', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('last_seen_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('devices_home').on('devices').columns(['home_id', 'paired_at']).execute();
  await db.schema.createIndex('devices_model').on('devices').column('model').execute();

  // A guest sees only the devices shared with them.
  await db.schema
    .createTable('device_shares')
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('shared_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('device_shares_pk', ['device_id', 'user_id'])
    .execute();
  await db.schema.createIndex('device_shares_user').on('device_shares').column('user_id').execute();

  await db.schema
    .createTable('device_claims')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('created_by', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('device_id', 'uuid')
    .execute();

  await db.schema
    .createTable('device_commands')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('issued_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('params', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'acknowledged', 'failed', 'timed-out')`),
    )
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('device_commands_device')
    .on('device_commands')
    .columns(['device_id', 'created_at'])
    .execute();

  // Type and time are plain for filtering and retention; everything else about an event is sealed.
  await db.schema
    .createTable('device_events')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('details', 'bytea')
    .execute();
  await db.schema
    .createIndex('device_events_device')
    .on('device_events')
    .columns(['device_id', 'occurred_at', 'id'])
    .execute();
  await db.schema
    .createIndex('device_events_home')
    .on('device_events')
    .columns(['home_id', 'occurred_at', 'id'])
    .execute();
  await db.schema.createIndex('device_events_occurred').on('device_events').column('occurred_at').execute();

  // A household member's body profile; readings are stored only while consent is given.
  await db.schema
    .createTable('body_profiles')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    // The account this profile describes, when the person has one.
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    // Sealed JSON {name, heightCm, birthDate, sex}.
    .addColumn('profile', 'bytea', (c) => c.notNull())
    .addColumn('consent_given_at', 'timestamptz')
    .addColumn('consent_given_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('body_profiles_home').on('body_profiles').column('home_id').execute();

  await db.schema
    .createTable('scale_readings')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('profile_id', 'uuid', (c) => c.notNull().references('body_profiles.id').onDelete('cascade'))
    .addColumn('home_id', 'uuid', (c) => c.notNull().references('homes.id').onDelete('cascade'))
    .addColumn('device_id', 'uuid', (c) => c.references('devices.id').onDelete('set null'))
    .addColumn('measured_at', 'timestamptz', (c) => c.notNull())
    // Sealed JSON: weight, BMI, body fat, muscle, water, bone, metabolic age, impedance.
    .addColumn('reading', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('scale_readings_profile')
    .on('scale_readings')
    .columns(['profile_id', 'measured_at', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'scale_readings',
    'body_profiles',
    'device_events',
    'device_commands',
    'device_claims',
    'device_shares',
    'devices',
    'home_invitations',
    'home_members',
    'homes',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
